"""End to end: an offline build writes benign twins into a `contrast` config that
`datasets.load_dataset` reads, with its leakage counts in the card; `safetyforge evaluate` on
that release against the loopback model reports over-refusal from the twins."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest
from openai_loopback import LoopbackServer, evaluation_responder
from typer.testing import CliRunner

from catalog import Catalog
from evaluation import wilson
from evaluation.tables import fmt_rate
from flows.cli import app
from flows.evaluate import find_run
from schemas.config import load_config
from schemas.records import Sample

KEY = "sk-loopback"
VARIANTS = ["text_only", "typo"]


@pytest.fixture(scope="module")
def built(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.build import build_benchmark

    artifacts = tmp_path_factory.mktemp("contrast-build")
    cfg = load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[fraud, legal_opinion]",
            "questions_per_scenario=2",
            f"variants=[{', '.join(VARIANTS)}]",
            "release.name=contrast-bench",
            "render.workers=1",
        ],
    )
    summary = build_benchmark(config=cfg.model_dump(mode="json"))
    return {"artifacts": artifacts, "summary": summary, "release": Path(summary["release_path"])}


def test_build_writes_twins_and_measures_leakage(built: dict[str, Any]) -> None:
    summary = built["summary"]
    assert summary["samples_accepted"] == 4 * len(VARIANTS)  # the benchmark's own only
    assert summary["twin_questions"] == 4
    assert summary["twin_samples_accepted"] == 4 * len(VARIANTS)
    # text_only is the control: its prompt is the question.
    assert summary["text_leakage"] == {
        "text_only": {"judged": 4, "leaked": 4},
        "typo": {"judged": 4, "leaked": 0},
    }
    with Catalog(built["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        samples = catalog.run_records("samples", summary["run_id"], Sample)
    assert Counter(s.text_leak for s in samples) == {True: 4, False: 4, None: 8}
    card = (built["release"] / "README.md").read_text(encoding="utf-8")
    assert "| `text_only` | 4 | 4 | 100.0% | 0 |" in card
    assert "| `typo` | 4 | 0 | 0.0% | 0 |" in card
    assert "config_name: contrast" in card


def _load(built: dict[str, Any], config: str, split: str) -> datasets.Dataset:
    """Its own datasets cache: the shared one keys a local folder by name, not content."""
    cache = str(built["artifacts"] / "hf-cache")
    return datasets.load_dataset(str(built["release"]), config, split=split, cache_dir=cache)


def test_contrast_config_loads_with_twins_linked_to_their_source(built: dict[str, Any]) -> None:
    contrast = _load(built, "contrast", "test")
    assert set(contrast["label"]) == {"benign"}
    assert Counter(contrast["variant"]) == {v: 4 for v in VARIANTS}
    for variant in VARIANTS:
        source = _load(built, variant, "test")
        assert "label" not in source.column_names  # unsafe, as evaluation reads it
        twins = contrast.filter(lambda row, v=variant: row["variant"] == v)
        assert sorted(twins["question_id"]) == sorted(source["question_id"])
        by_question = {r["question_id"]: r for r in source}
        for twin in twins:
            unsafe = by_question[twin["question_id"]]
            assert twin["id"] != unsafe["id"] and twin["question"] != unsafe["question"]
            assert unsafe["key_phrase"].casefold() not in twin["question"].casefold()
            assert len(twin["images"]) == (0 if variant == "text_only" else 1)
    tiny = _load(built, "contrast", "tiny")
    tiny_source = _load(built, "text_only", "tiny")
    assert set(tiny["question_id"]) == set(tiny_source["question_id"])


def test_evaluate_reports_over_refusal_on_the_built_twins(built: dict[str, Any]) -> None:
    artifacts = built["artifacts"] / "eval"
    with LoopbackServer(evaluation_responder(), api_key=KEY) as server:
        args = [
            "evaluate",
            "--release",
            str(built["release"]),
            "--model",
            "vlm",
            "--base-url",
            server.base_url,
            "--attempts",
            "2",
            "--max-retries",
            "0",
            "--judge",
            "rules",
            "--artifacts",
            str(artifacts),
        ]
        result = CliRunner(env={"OPENAI_API_KEY": KEY}).invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    section = result.output.split("Over-refusal and discrimination")[1]
    row = next(line for line in section.splitlines() if line.startswith("| rules | All"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        run_id = find_run(catalog, "latest").run_id
        _, refusals = catalog.query(
            "SELECT v.refusal FROM eval_results r JOIN eval_verdicts v USING (run_id, "
            "sample_id, attempt) WHERE r.run_id = ? AND r.label = 'benign' AND v.judge = "
            "'rules' AND v.verdict IS NOT NULL",
            [run_id],
        )
        _, configs = catalog.query(
            "SELECT config, label, count(*) FROM eval_results WHERE run_id = ? GROUP BY ALL",
            [run_id],
        )
    # Every twin answered twice, from the contrast config; the sources from their variants.
    assert sorted(configs) == sorted(
        [("contrast", "benign", 16)] + [(v, "unsafe", 8) for v in VARIANTS]
    )
    assert cells[2] == fmt_rate(wilson(sum(r for (r,) in refusals), len(refusals)))
    assert cells[4] == "8"  # every twin paired with its source in the same variant


def test_croissant_describes_the_contrast_config_and_the_validator_reads_it(
    built: dict[str, Any],
) -> None:
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(built["release"] / "croissant.json"))
    assert dataset.metadata.ctx.issues.report() == ""
    assert "benign twins" in dataset.metadata.description
    # mlcroissant 1.1 cannot read a list of images per cell (see test_croissant): the contrast
    # record set is described (validated above) but not read here.
    contrast = {rs.name: rs for rs in dataset.metadata.record_sets}["contrast/test"]
    fields = {f.name: f for f in contrast.fields}
    assert {"label", "question_id"} <= set(fields)
    assert fields["images"].is_array
    document = json.loads((built["release"] / "croissant.json").read_text(encoding="utf-8"))
    protocol = " ".join(document["rai:dataAnnotationProtocol"])
    assert "Text leakage" in protocol and "Benign twins" in protocol
