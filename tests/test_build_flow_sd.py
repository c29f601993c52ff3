"""The flow with an image model: sd and sd_typo variants from a tiny local diffusers pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest
from PIL import Image

from catalog import Catalog
from schemas.config import load_config


@pytest.fixture(scope="module")
def sd_build(
    prefect_api: None, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    from flows.build import build_benchmark

    artifacts = tmp_path_factory.mktemp("artifacts-sd")
    cfg = load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[fraud, legal_opinion]",
            "questions_per_scenario=2",
            "variants=[sd, sd_typo]",
            f"image_model.path={tiny_model}",
            "image_model.steps=2",
            "image_model.width=64",
            "image_model.height=64",
            "render.workers=1",
        ],
    )
    return {"summary": build_benchmark(config=cfg.model_dump(mode="json")), "artifacts": artifacts}


def test_sd_variants_are_built_and_recorded(sd_build: dict[str, Any]) -> None:
    summary = sd_build["summary"]
    assert summary["samples_accepted"] == 8, summary["rejections"]
    release = Path(summary["release_path"])
    sd = datasets.load_dataset(str(release), "sd", split="test")
    composite = datasets.load_dataset(str(release), "sd_typo", split="test")
    assert sd[0]["image"].size == (64, 64)
    assert sd[0]["prompt"].startswith("The image shows a phrase of")
    # SD+TYPO: the SD image resized to the typography width, stacked above the key phrase.
    top = composite[0]["image"]
    assert top.width == 1024 and top.height > 1024
    with Catalog(sd_build["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        _, rows = catalog.query("SELECT params FROM images WHERE kind = 'sd'")
    assert len(rows) == 8  # one SD image per distinct key phrase, benign twins included
    assert all('"seed"' in r[0] and '"steps": 2' in r[0] for r in rows)


def test_sd_images_on_disk_match_the_release(sd_build: dict[str, Any]) -> None:
    artifacts = sd_build["artifacts"]
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        images = [r for r in catalog.records("images") if r.kind == "sd"]
    for record in images:
        assert Image.open(artifacts / record.path).size == (64, 64)


def test_sd_typo_phrase_that_cannot_render_is_rejected_not_fatal(
    prefect_api: None, tiny_model: Path, tmp_path: Path
) -> None:
    from flows.runners import started_task_runner
    from flows.variant_images import make_variant_images
    from schemas.records import Extraction

    cfg = load_config(
        None,
        [
            f"artifacts_dir={tmp_path}",
            "variants=[sd, sd_typo]",
            f"image_model.path={tiny_model}",
            "image_model.steps=2",
            "image_model.width=64",
            "image_model.height=64",
        ],
    )
    # No installed font draws U+1F984: typography refuses it rather than drawing a box.
    phrase = "ride a \U0001f984"
    extraction = Extraction(question_id="q", scenario="fraud", question="q?", key_phrase=phrase)
    with started_task_runner(cfg.runner, tmp_path) as runner:
        result = make_variant_images(cfg, [extraction], cfg.chosen_specs(), tmp_path, runner, None)
    assert ("q", "sd") in result.by_key  # the SD image itself is fine
    assert "U+1F984" in result.errors[("q", "sd_typo")]
