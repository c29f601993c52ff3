"""The whole build_benchmark flow on a tiny offline config, end to end, twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import duckdb
import pytest
from PIL import Image

from catalog import Catalog
from schemas.config import load_config
from schemas.records import Sample

VARIANTS = ["text_only", "typo", "figstep", "figstep_pro"]


@pytest.fixture(scope="module")
def built(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.build import build_benchmark

    artifacts = tmp_path_factory.mktemp("artifacts")
    cfg = load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[fraud, malware_generation, health_consultation]",
            "questions_per_scenario=2",
            "release.name=tiny-bench",
            "render.workers=1",
            "review.ocr_check=true",
        ],
    )
    first = build_benchmark(config=cfg.model_dump(mode="json"))
    second = build_benchmark(config=cfg.model_dump(mode="json"))
    return {"artifacts": artifacts, "first": first, "second": second, "config": cfg}


def test_first_run_builds_every_variant(built: dict[str, Any]) -> None:
    summary = built["first"]
    assert summary["questions_accepted"] == 6
    assert summary["samples_accepted"] == 6 * len(VARIANTS)
    assert summary["samples_rejected"] == 0
    assert summary["release_status"] == "published"
    assert summary["llm_requests"] > 0 and summary["images_drawn"] > 0
    assert summary["counts"]["fraud/figstep_pro"] == 2


def test_second_run_repeats_no_work(built: dict[str, Any]) -> None:
    summary = built["second"]
    assert summary["llm_requests"] == 0
    assert summary["llm_cache_hits"] > 0
    assert summary["images_drawn"] == 0
    assert summary["release_status"] == "unchanged"
    assert summary["counts"] == built["first"]["counts"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_release_loads_with_datasets(built: dict[str, Any], variant: str) -> None:
    release = Path(built["first"]["release_path"])
    ds = datasets.load_dataset(str(release), variant, split="test")
    assert len(ds) == 6
    row = ds[0]
    assert row["variant"] == variant
    assert {"id", "scenario", "question", "key_phrase", "phrase_type", "prompt"} <= set(row)
    if variant == "figstep_pro":
        assert 2 <= len(row["images"]) <= 4
        assert all(isinstance(im, Image.Image) for im in row["images"])
    elif variant == "text_only":
        assert row["prompt"] == row["question"]
    else:
        assert isinstance(row["image"], Image.Image)
    tiny = datasets.load_dataset(str(release), variant, split="tiny")
    assert 1 <= len(tiny) < len(ds)


def test_release_rows_match_rendered_files(built: dict[str, Any]) -> None:
    release = Path(built["first"]["release_path"])
    artifacts = built["artifacts"]
    ds = datasets.load_dataset(str(release), "typo", split="test")
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        samples = {s.sample_id: s for s in catalog.records("samples")}
        images = catalog.images_by_id(i for s in samples.values() for i in s.image_ids)
    for row in ds:
        record = images[samples[row["id"]].image_ids[0]]
        on_disk = Image.open(artifacts / record.path)
        assert row["image"].convert("RGB").tobytes() == on_disk.convert("RGB").tobytes()


def test_duckdb_reads_the_release(built: dict[str, Any]) -> None:
    release = Path(built["first"]["release_path"])
    rows = duckdb.sql(
        f"SELECT scenario, count(*) FROM read_parquet('{release}/data/figstep/test-*.parquet') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("fraud", 2), ("health_consultation", 2), ("malware_generation", 2)]


def test_catalog_records_the_lineage(built: dict[str, Any]) -> None:
    with Catalog(built["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        _, runs = catalog.query("SELECT status, summary FROM runs ORDER BY started_at")
        assert [r[0] for r in runs] == ["completed", "completed"]
        _, calls = catalog.query(
            "SELECT count(*), count(DISTINCT call_id), bool_and(offline) FROM llm_calls"
        )
        assert calls[0][2] is True and calls[0][0] >= calls[0][1] > 0
        _, images = catalog.query(
            "SELECT count(*) FROM images WHERE font_sha256 IS NULL OR pillow_version IS NULL"
        )
        assert images == [(0,)]
        _, raw = catalog.query("SELECT count(*) FROM extractions WHERE raw_text IS NULL")
        assert raw == [(0,)]
        _, releases = catalog.query("SELECT name, version FROM releases")
        assert releases == [("tiny-bench", "0.1.0")]


def test_changed_content_under_the_same_version_is_refused(built: dict[str, Any]) -> None:
    from catalog.release import ReleaseExistsError
    from flows.build import build_benchmark

    cfg = built["config"].model_copy(update={"questions_per_scenario": 3})
    with pytest.raises(ReleaseExistsError, match="immutable"):
        build_benchmark(config=cfg.model_dump(mode="json"))


def test_ocr_checks_are_recorded_once_per_image(built: dict[str, Any]) -> None:
    run_id = built["first"]["run_id"]
    with Catalog(built["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        checks = {c.image_id: c for c in catalog.records("ocr_checks")}
        samples = catalog.run_records("samples", run_id, Sample)
    checked = [s for s in samples if s.variant != "text_only"]
    assert len(checked) == 18
    for sample in checked:
        check = checks[sample.image_ids[0]]
        assert check.kind == sample.variant
        assert check.cer is not None and check.cer <= 0.15
        assert check.leaked_words == [] and check.missing_words == []


def test_a_run_started_in_a_taken_second_gets_its_own_id(built: dict[str, Any]) -> None:
    """Two runs of one config that start in the same second (the second waited for the lock
    right after a quick first one) used to share an id, and the second overwrote the first's
    record in the catalog."""
    from flows.build import make_run_id

    taken: set[str] = set()
    for _ in range(3):
        taken.add(make_run_id(built["config"], taken.__contains__))
    assert len(taken) == 3
    assert built["first"]["run_id"] != built["second"]["run_id"]
