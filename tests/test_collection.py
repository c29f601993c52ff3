"""Importing image collections (folder + metadata, HF dataset) and the `natural` variant end to
end: build_benchmark with a collection, review, release columns, card, Label Studio tasks."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from PIL import Image

from catalog import Catalog
from generators.collection import CollectionError, import_collection
from schemas.config import CollectionConfig, ConfigError, load_config
from schemas.records import ImageRecord

# file name -> (colour, metadata entry); the last image has no metadata entry.
SCENES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "a_kitchen.png": (
        "#c04040",
        {
            "id": "img-1",
            "captions": ["A kitchen counter with a large knife."],
            "objects": ["knife", "cutting board"],
            "ocr": "",
        },
    ),
    "b_street.jpg": (
        "#40c040",
        {
            "id": "img-2",
            "captions": ["A cash machine on a dark street."],
            "objects": ["cash machine"],
            "ocr": "INSERT CARD",
            "license": "cc-by-4.0",
        },
    ),
    "c_plain.png": ("#4040c0", None),
}


def make_folder(root: Path) -> tuple[Path, list[dict[str, Any]]]:
    folder = root / "images"
    folder.mkdir(parents=True)
    entries = []
    for name, (colour, entry) in SCENES.items():
        Image.new("RGB", (40, 30), colour).save(folder / name, quality=90)
        if entry is not None:
            entries.append({"file_name": name, **entry})
    return folder, entries


def write_metadata(root: Path, entries: list[dict[str, Any]], kind: str) -> Path:
    path = root / f"meta.{kind}"
    if kind == "jsonl":
        path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    elif kind == "json":  # a mapping from file name to its entry
        mapping = {
            e["file_name"]: {k: v for k, v in e.items() if k != "file_name"} for e in entries
        }
        path.write_text(json.dumps(mapping), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["file_name", "id", "captions", "objects", "ocr", "license"]
            )
            writer.writeheader()
            for e in entries:
                writer.writerow(
                    {**e, "captions": "|".join(e["captions"]), "objects": ", ".join(e["objects"])}
                )
    return path


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv"])
def test_folder_import_records_source_licence_and_description(tmp_path: Path, kind: str) -> None:
    folder, entries = make_folder(tmp_path)
    config = CollectionConfig(
        folder=str(folder),
        metadata=str(write_metadata(tmp_path, entries, kind)),
        columns={"id": "id"},
        source="test-scenes",
        license="cc0-1.0",
    )
    result = import_collection(config, tmp_path / "artifacts")
    assert (result.imported, result.reused, result.skipped) == (3, 0, [])
    kitchen, street, plain = result.images
    assert kitchen.kind == "collection" and kitchen.path.endswith(".png")
    assert kitchen.path == f"images/collection/{kitchen.image_id[:2]}/{kitchen.image_id}.png"
    assert street.path.endswith(".jpg")  # JPEG bytes kept as they came
    assert (tmp_path / "artifacts" / street.path).read_bytes() == (
        folder / "b_street.jpg"
    ).read_bytes()
    assert kitchen.params["source"] == "test-scenes"
    assert kitchen.params["original_id"] == "img-1"
    assert kitchen.params["license"] == "cc0-1.0"  # the collection's licence
    assert street.params["license"] == "cc-by-4.0"  # the image's own licence wins
    assert kitchen.params["objects"] == ["knife", "cutting board"]
    assert street.params["captions"] == ["A cash machine on a dark street."]
    assert street.params["ocr"] == "INSERT CARD"
    assert plain.params["original_id"] == "c_plain.png"  # no entry: its path is its id
    assert plain.params["captions"] == [] and plain.params["objects"] == []
    sidecar = tmp_path / "artifacts" / Path(kitchen.path).with_suffix(".json")
    assert ImageRecord.model_validate_json(sidecar.read_bytes()) == kitchen


def test_reimport_reuses_skips_duplicates_and_unreadable_files(tmp_path: Path) -> None:
    folder, _ = make_folder(tmp_path)
    (folder / "d_copy.png").write_bytes((folder / "a_kitchen.png").read_bytes())
    (folder / "e_broken.png").write_bytes(b"not an image")
    config = CollectionConfig(folder=str(folder), license="cc0-1.0")
    first = import_collection(config, tmp_path / "artifacts")
    assert first.imported == 3
    assert [s[0] for s in first.skipped] == ["d_copy.png", "e_broken.png"]
    assert first.skipped[0][1] == "duplicate of a_kitchen.png"
    assert first.skipped[1][1].startswith("unreadable image")
    again = import_collection(config, tmp_path / "artifacts")
    assert (again.imported, again.reused) == (0, 3)
    assert again.images == first.images
    relicensed = import_collection(
        config.model_copy(update={"license": "cc-by-4.0"}), tmp_path / "artifacts"
    )
    assert relicensed.imported == 3  # the sidecar records the new licence
    limited = import_collection(config.model_copy(update={"max_images": 2}), tmp_path / "x")
    assert len(limited.images) == 2


def test_hf_dataset_import_works_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder, entries = make_folder(tmp_path)
    ds = datasets.Dataset.from_dict(
        {
            "picture": [str(folder / e["file_name"]) for e in entries],
            "coco_id": [e["id"] for e in entries],
            "caption": [e["captions"][0] for e in entries],
            "labels": [e["objects"] for e in entries],
        }
    ).cast_column("picture", datasets.Image())
    local = tmp_path / "hf-copy"
    (local / "data").mkdir(parents=True)
    ds.to_parquet(str(local / "data" / "train-00000-of-00001.parquet"))
    config = CollectionConfig(
        hf_dataset=str(local),
        columns={"image": "picture", "id": "coco_id", "captions": "caption", "objects": "labels"},
        license="cc-by-4.0",
    )
    result = import_collection(config, tmp_path / "artifacts")
    assert [i.params["original_id"] for i in result.images] == ["img-1", "img-2"]
    assert result.images[0].params["captions"] == ["A kitchen counter with a large knife."]
    assert result.images[1].params["objects"] == ["cash machine"]
    assert result.images[0].params["source"] == "hf-copy"
    stored = tmp_path / "artifacts" / result.images[0].path
    assert stored.read_bytes() == (folder / "a_kitchen.png").read_bytes()
    with pytest.raises(CollectionError, match="no column 'image'"):
        default_columns = CollectionConfig.model_validate(config.model_dump() | {"columns": {}})
        import_collection(default_columns, tmp_path / "artifacts")


def test_collection_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="natural variant needs a collection"):
        load_config(None, ["variants=[natural]"])
    with pytest.raises(ConfigError, match="exactly one of folder or hf_dataset"):
        load_config(None, ["collection.license=cc0-1.0"])
    with pytest.raises(ConfigError, match="collection.license"):
        load_config(None, ["collection.folder=x"])
    with pytest.raises(CollectionError, match="is not a folder"):
        import_collection(CollectionConfig(folder=str(tmp_path / "nope"), license="x"), tmp_path)


# --- The whole flow with a collection --------------------------------------------------------


@pytest.fixture(scope="module")
def built(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.build import build_benchmark

    root = tmp_path_factory.mktemp("collection-flow")
    folder, entries = make_folder(root)
    metadata = write_metadata(root, entries, "jsonl")
    artifacts = root / "artifacts"
    cfg = load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[physical_harm, fraud]",
            "questions_per_scenario=1",
            "variants=[text_only, natural]",
            f"collection.folder={folder}",
            f"collection.metadata={metadata}",
            "collection.columns.id=id",
            "collection.source=test-scenes",
            "collection.license=cc0-1.0",
            "collection.questions_per_image=2",
            "release.name=natural-bench",
        ],
    )
    first = build_benchmark(config=cfg.model_dump(mode="json"))
    second = build_benchmark(config=cfg.model_dump(mode="json"))
    return {"artifacts": artifacts, "first": first, "second": second, "folder": folder}


def test_flow_builds_natural_beside_generated_variants(built: dict[str, Any]) -> None:
    summary = built["first"]
    assert summary["collection_images"] == 3 and summary["collection_imported"] == 3
    # 3 images x 2 questions; the bare image has two "this picture" frames per kind.
    assert summary["grounded_questions_accepted"] == 6
    assert sum(n for k, n in summary["counts"].items() if k.endswith("/natural")) == 6
    assert summary["counts"]["fraud/text_only"] == 1
    assert summary["release_status"] == "published"


def test_second_run_asks_and_imports_nothing(built: dict[str, Any]) -> None:
    summary = built["second"]
    assert summary["llm_requests"] == 0
    assert summary["collection_imported"] == 0 and summary["collection_reused"] == 3
    assert summary["release_status"] == "unchanged"


def test_natural_config_loads_with_source_and_licence(built: dict[str, Any]) -> None:
    release = Path(built["first"]["release_path"])
    ds = datasets.load_dataset(str(release), "natural", split="test")
    assert len(ds) == 6
    assert {"source_image_id", "source", "license", "image", "prompt"} <= set(ds.column_names)
    by_id = {row["source_image_id"]: row for row in ds}
    assert set(by_id) == {"img-1", "img-2", "c_plain.png"}
    assert by_id["img-2"]["license"] == "cc-by-4.0" and by_id["img-1"]["license"] == "cc0-1.0"
    assert {row["source"] for row in ds} == {"test-scenes"}
    for row in ds:
        assert row["variant"] == "natural" and row["prompt"] == row["question"]
        assert row["key_phrase"].casefold() in row["question"].casefold()
    original = Image.open(built["folder"] / "a_kitchen.png")
    assert by_id["img-1"]["image"].convert("RGB").tobytes() == original.convert("RGB").tobytes()
    text_only = datasets.load_dataset(str(release), "text_only", split="test")
    assert "source" not in text_only.column_names
    card = (release / "README.md").read_text(encoding="utf-8")
    assert "## Image sources" in card
    assert "| test-scenes | `cc-by-4.0` | 1 | 2 |" in card
    assert "| test-scenes | `cc0-1.0` | 2 | 4 |" in card


def test_catalog_and_review_tasks_show_the_source_image(built: dict[str, Any]) -> None:
    from annotation.tasks import build_tasks

    artifacts = built["artifacts"]
    run_id = built["first"]["run_id"]
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        samples = catalog.records("samples", "run_id = ? AND variant = 'natural'", [run_id])
        images = catalog.images_by_id(i for s in samples for i in s.image_ids)
        questions = catalog.records("questions", "run_id = ?", [run_id])
    assert {i.params["license"] for i in images.values()} == {"cc0-1.0", "cc-by-4.0"}
    assert all(i.kind == "collection" for i in images.values())
    assert sum(q.scenario in ("physical_harm", "fraud") for q in questions) >= 6 + 2
    tasks = build_tasks(samples, images, artifacts, document_root=artifacts)
    assert len(tasks) == 6
    for task, sample in zip(tasks, samples, strict=True):
        path = images[sample.image_ids[0]].path
        assert f"/data/local-files/?d={path}" in task["data"]["gallery"]
        assert task["data"]["question"] == sample.question
