"""croissant.json: the mlcroissant validator accepts it, its record sets read the release's rows,
and it states the Responsible-AI fields and a licence per component."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from release_data import VARIANTS, Inputs, make_inputs

from catalog.card import CardContext, FontRow, SourceRow, citation
from catalog.croissant import CROISSANT_FILE, croissant_metadata
from catalog.outcomes import OutcomeCount
from catalog.release import arrow_schema
from schemas.config import BuildConfig
from schemas.records import ReleaseRecord
from schemas.variants import builtin_specs


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inputs, ReleaseRecord]:
    root = tmp_path_factory.mktemp("croissant")
    inputs = make_inputs(root / "artifacts")
    outcomes = [OutcomeCount(stage="sample", outcome="accepted", reason="", count=24)]
    return inputs, inputs.write(root / "releases", outcomes=outcomes)


def test_the_validator_accepts_it_and_its_record_sets_read_the_rows(
    release: tuple[Inputs, ReleaseRecord],
) -> None:
    import mlcroissant as mlc

    inputs, record = release
    path = Path(record.path) / CROISSANT_FILE
    dataset = mlc.Dataset(jsonld=str(path))
    assert dataset.metadata.ctx.issues.report() == ""  # no error, no warning
    names = [rs.name for rs in dataset.metadata.record_sets]
    assert names == [f"{v}/{split}" for v in VARIANTS for split in ("test", "tiny")]
    # mlcroissant 1.1 reads one image per cell (a jsonPath keeps its first match), so the list
    # of FigStep-Pro fragments is described but not read here; every other config is.
    for variant in ("text_only", "typo", "figstep"):
        rows = list(dataset.records(record_set=f"{variant}/test"))
        expected = {s.sample_id: s for s in inputs.samples if s.variant == variant}
        assert sorted(r[f"{variant}/test/id"].decode() for r in rows) == sorted(expected)
        for row in rows:
            sample = expected[row[f"{variant}/test/id"].decode()]
            assert row[f"{variant}/test/prompt"].decode() == sample.prompt
            if variant != "text_only":
                image = inputs.images[sample.image_ids[0]]
                assert row[f"{variant}/test/image"].size == (image.width, image.height)
    assert dataset.metadata.record_sets[-1].fields[-1].is_array  # figstep_pro images


def test_the_command_line_validator_passes_offline(release: tuple[Inputs, ReleaseRecord]) -> None:
    _inputs, record = release
    result = subprocess.run(
        [sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld", CROISSANT_FILE],
        cwd=record.path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "NO_PROXY": "*"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done" in result.stdout + result.stderr


def test_responsible_ai_fields_state_the_build_and_review(
    release: tuple[Inputs, ReleaseRecord],
) -> None:
    _inputs, record = release
    document = json.loads((Path(record.path) / CROISSANT_FILE).read_text())
    assert document["conformsTo"] == [
        "http://mlcommons.org/croissant/1.1",
        "http://mlcommons.org/croissant/RAI/1.0",
    ]
    assert document["rai:hasSyntheticData"] is True
    assert document["rai:dataCollection"].startswith("Synthetic.")
    assert "offline template bank" in document["rai:dataCollection"]
    assert any("Prohibited: training" in u for u in document["rai:dataUseCases"])
    assert any(u.startswith("Intended:") for u in document["rai:dataUseCases"])
    assert document["rai:dataBiases"]
    assert document["rai:dataAnnotationAnalysis"] == ["sample: accepted: 24"]
    [dataset_license, font] = document["license"]
    assert dataset_license["url"] == "https://spdx.org/licenses/CC-BY-NC-4.0.html"
    assert font["name"] == "Font FreeMonoBold.ttf: GPL-3.0-or-later WITH Font-exception-2.0"
    assert "@misc{testbench_0_1_0" in document["citeAs"]


def test_each_component_gets_its_licence_and_human_review_its_protocol() -> None:
    config = BuildConfig(
        variants=["typo", "sd"],
        image_model={"path": "stabilityai/stable-diffusion-xl-base-1.0"},  # type: ignore[arg-type]
        review={"mode": "label-studio", "min_annotations": 3, "ocr_check": True},  # type: ignore[arg-type]
        release={"name": "bench", "license": "apache-2.0"},  # type: ignore[arg-type]
    )
    context = CardContext(
        run_id="r",
        taxonomy_title="MM-SafetyBench",
        generator={},
        variants=[],
        fonts=[FontRow(name="LiberationSans-Regular.ttf", sha256="cd" * 32)],
        renderer={},
        image_model={"model": "stabilityai/stable-diffusion-xl-base-1.0"},
        hub_repo="org/bench",
    )
    sources = [SourceRow(source="COCO val2017", license="CC-BY-4.0", images=2, samples=4)]
    document = croissant_metadata(
        config=config,
        schemas={v: arrow_schema(builtin_specs()[v]) for v in ("typo", "sd")},
        data_files={v: {"test": f"data/{v}/test-*.parquet"} for v in ("typo", "sd")},
        context=context,
        outcomes=[],
        sources=sources,
        n_samples=8,
        citation=citation(config, "r"),
    )
    assert [w["name"] for w in document["license"]] == [
        "Dataset (questions, prompts, rendered images): apache-2.0",
        "Font LiberationSans-Regular.ttf: OFL-1.1",
        "Image model stabilityai/stable-diffusion-xl-base-1.0: CreativeML Open RAIL++-M",
        "Collection images from COCO val2017: CC-BY-4.0",
    ]
    protocol = " ".join(document["rai:dataAnnotationProtocol"])
    assert "Label Studio" in protocol and "majority of 3 annotator(s)" in protocol
    assert "character error rate above 0.15" in protocol
    assert document["rai:annotationsPerItem"] == "3"
    assert document["rai:machineAnnotationTools"] == [
        "SafetyForge rule checks",
        "LLM text-leakage judge",
        "tesseract OCR",
    ]
    assert document["url"] == "https://huggingface.co/datasets/org/bench"
    config.image_model.license = "my-licence"
    document = croissant_metadata(
        config=config,
        schemas={"sd": arrow_schema(builtin_specs()["sd"])},
        data_files={"sd": {"test": "data/sd/test-*.parquet"}},
        context=context,
        outcomes=[],
        sources=[],
        n_samples=4,
        citation="",
    )
    assert document["license"][2]["name"].endswith(": my-licence")
