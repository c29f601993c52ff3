"""configs/attacks-demo.yaml through the real build flow (tiny: one scenario, one question):
every offline attack variant is built, derived text is recorded, read-back checks run, and the
release loads with `datasets`; the card credits the collection images inside composites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from PIL import Image

from catalog import Catalog
from schemas.config import load_config
from typography.decode import decode_qr

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import importlib.util

    from flows.build import build_benchmark

    spec = importlib.util.spec_from_file_location(
        "make_demo_collection", ROOT / "scripts" / "make_demo_collection.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    root = tmp_path_factory.mktemp("attacks-demo")
    metadata = module.make_demo_collection(root / "demo-collection")
    config = load_config(
        ROOT / "configs" / "attacks-demo.yaml",
        [
            f"artifacts_dir={root / 'artifacts'}",
            f"collection.folder={root / 'demo-collection' / 'scenes'}",
            f"collection.metadata={metadata}",
            "scenarios=[fraud]",
            "questions_per_scenario=1",
            "translate.languages=[zh, hi]",
            "render.workers=1",
        ],
    )
    summary = build_benchmark(config=config.model_dump(mode="json"))
    return {"summary": summary, "config": config, "artifacts": root / "artifacts"}


def test_every_offline_variant_is_built_and_accepted(demo: dict[str, Any]) -> None:
    summary, config = demo["summary"], demo["config"]
    names = [s.name for s in config.chosen_specs()]
    assert "typo_translated_zh" in names and "figstep_translated_hi" in names
    assert not any(s.needs_image_model for s in config.chosen_specs())
    assert summary["release_status"] == "published"
    for name in names:
        if name != "natural":
            assert summary["counts"].get(f"fraud/{name}") == 1, (name, summary["rejections"])


def test_release_loads_every_config_with_its_images(demo: dict[str, Any]) -> None:
    release = demo["summary"]["release_path"]
    rows = {
        name: datasets.load_dataset(release, name, split="test")[0]
        for name in (s.name for s in demo["config"].chosen_specs())
    }
    assert rows["alpha"]["image"].mode == "RGBA"
    assert len(rows["figstep_multi"]["images"]) == 3
    assert "three images" in rows["figstep_multi"]["prompt"]
    assert decode_qr(rows["qr"]["image"]) == [rows["qr"]["figstep_statement"]]
    assert rows["lowres"]["image"].width == 256
    assert "Pictures 10, 11 and 12" in rows["cs_dj"]["prompt"]
    assert rows["cs_dj"]["key_phrase"] not in rows["cs_dj"]["prompt"]
    assert '" means "' in rows["mml_wordswap"]["prompt"]
    for row in rows.values():
        for image in [row.get("image"), *(row.get("images") or [])]:
            assert image is None or isinstance(image, Image.Image)


def test_derivations_and_read_back_checks_are_in_the_catalog(demo: dict[str, Any]) -> None:
    with Catalog(demo["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        derived = catalog.records("derivations")
        checks = {c.kind: c for c in catalog.records("ocr_checks")}
    assert {d.derivation for d in derived} == {
        "base64",
        "wordswap",
        "subquestions",
        "translate",
    }
    assert all(d.status == "accepted" for d in derived)
    assert {
        json.loads(d.params_key).get("language") for d in derived if d.derivation == "translate"
    } == {"zh", "hi"}
    assert checks["qr"].check == "decode" and checks["qr"].recognized == checks["qr"].expected
    for kind in ("mml_rotate", "mml_mirror", "alpha", "lowres", "figstep_multi", "cs_dj"):
        assert checks[kind].cer is not None and checks[kind].cer <= 0.15, (kind, checks[kind])


def test_card_credits_collection_images_inside_composites(demo: dict[str, Any]) -> None:
    card = (Path(demo["summary"]["release_path"]) / "README.md").read_text(encoding="utf-8")
    assert "safetyforge-demo-scenes" in card and "cc0-1.0" in card
    assert "typo_translated_zh" in card and "CS-DJ" in card
