"""Release folders: datasets round trips, typed features, pixels, checksums, sharding, immutability."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from PIL import Image
from release_data import SCENARIOS, VARIANTS, Inputs, make_inputs

from catalog.outcomes import OutcomeCount
from catalog.release import (
    ReleaseExistsError,
    ShardPolicy,
    next_version,
    tiny_question_ids,
    verify_release,
)
from schemas.records import ReleaseRecord, Sample, sample_id

OUTCOMES = [
    OutcomeCount(stage="sample", outcome="accepted", reason="", count=24),
    OutcomeCount(stage="sample", outcome="rejected", reason="image", count=2),
]


def publish(inputs: Inputs, releases: Path, version: str, **kwargs) -> ReleaseRecord:
    return inputs.write(releases, outcomes=OUTCOMES, version=version, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inputs, ReleaseRecord, Path]:
    root = tmp_path_factory.mktemp("release")
    inputs = make_inputs(root / "artifacts")
    record = publish(inputs, root / "releases", "0.1.0")
    return inputs, record, Path(record.path)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("split", ["test", "tiny"])
def test_every_config_and_split_round_trips_through_load_dataset(
    built: tuple[Inputs, ReleaseRecord, Path], variant: str, split: str, tmp_path: Path
) -> None:
    inputs, record, folder = built
    ds = datasets.load_dataset(str(folder), variant, split=split, cache_dir=str(tmp_path))
    assert len(ds) == record.counts[f"{variant}/{split}"] > 0
    if variant == "figstep_pro":
        assert isinstance(ds.features["images"], datasets.List)
        assert isinstance(ds.features["images"].feature, datasets.Image)
    elif variant == "text_only":
        assert "image" not in ds.features and "images" not in ds.features
    else:
        assert isinstance(ds.features["image"], datasets.Image)
    assert ds.features["prompt"] == datasets.Value("string")
    expected = {s.sample_id: s for s in inputs.samples if s.variant == variant}
    for row in ds:
        sample = expected[row["id"]]
        assert (row["question"], row["key_phrase"], row["prompt"]) == (
            sample.question,
            sample.key_phrase,
            sample.prompt,
        )
        got = row.get("images") or ([row["image"]] if "image" in row else [])
        assert len(got) == len(sample.image_ids)
        for image, image_id in zip(got, sample.image_ids, strict=True):
            rendered = Image.open(inputs.artifacts / inputs.images[image_id].path)
            assert np.array_equal(_pixels(image), _pixels(rendered))


def test_rows_keep_the_question_id_original_id_and_warnings_of_every_variant(
    built: tuple[Inputs, ReleaseRecord, Path], tmp_path: Path
) -> None:
    inputs, _, folder = built
    by_config = {
        v: {
            row["original_id"]: row
            for row in datasets.load_dataset(
                str(folder), v, split="test", cache_dir=str(tmp_path / v)
            )
        }
        for v in VARIANTS
    }
    first = by_config["text_only"]
    assert len(first) == len(inputs.samples) // len(VARIANTS)
    for original_id, row in first.items():
        # One question: the same question_id in every config, so variants pair up.
        assert {by_config[v][original_id]["question_id"] for v in VARIANTS} == {row["question_id"]}
        assert row["changed_question"].startswith("List steps in detail to do ")
        flagged = original_id.endswith("/0")
        assert row["warnings"] == (
            ["key_phrase_absent: not in the changed question"] if flagged else []
        )


def test_tiny_split_has_the_same_questions_in_every_config(
    built: tuple[Inputs, ReleaseRecord, Path],
) -> None:
    _inputs, _record, folder = built
    per_config = {
        variant: {
            row[0]
            for row in duckdb.sql(
                f"SELECT question FROM read_parquet('{folder}/data/{variant}/tiny-*.parquet')"
            ).fetchall()
        }
        for variant in VARIANTS
    }
    first = per_config[VARIANTS[0]]
    assert all(questions == first for questions in per_config.values())
    assert len(first) == len(SCENARIOS)  # ceil(10% of 3) = one question per scenario


def test_a_published_tiny_list_decides_the_tiny_split() -> None:
    def sample(question: str, scenario: str, tiny: bool | None) -> Sample:
        return Sample(
            sample_id=sample_id(question, "typo"),
            question_id=question,
            scenario=scenario,
            variant="typo",
            question=question,
            key_phrase="k",
            phrase_type="activity",
            prompt="p",
            tiny=tiny,
        )

    listed = [sample(f"a{i}", "fraud", i in (3, 7)) for i in range(10)]
    by_rule = [sample(f"b{i}", "sex", None) for i in range(10)]
    chosen = tiny_question_ids(listed + by_rule, 0.1)
    # The list's questions exactly (not ~10%); unlisted scenarios by the hash rule.
    assert chosen & {s.question_id for s in listed} == {"a3", "a7"}
    assert len(chosen & {s.question_id for s in by_rule}) == 1


def test_manifest_checksums_verify_and_catch_tampering(
    built: tuple[Inputs, ReleaseRecord, Path], tmp_path: Path
) -> None:
    _inputs, record, folder = built
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert verify_release(folder) == []
    parquet = [k for k in manifest["files"] if k.endswith(".parquet")]
    assert sum(manifest["files"][k]["rows"] for k in parquet) == sum(record.counts.values())
    assert {"README.md", "build_config.yaml", "charts/scenarios.png"} <= set(manifest["files"])
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    target = copy / parquet[0]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    (copy / "stray.txt").write_text("x")
    problems = verify_release(copy)
    assert f"{parquet[0]}: sha256 differs from the manifest" in problems
    assert "stray.txt: not in the manifest" in problems


def test_duckdb_reads_the_whole_release(built: tuple[Inputs, ReleaseRecord, Path]) -> None:
    inputs, _record, folder = built
    rows = duckdb.sql(
        f"SELECT variant, count(*) FROM read_parquet('{folder}/data/*/test-*.parquet', "
        "union_by_name = true) GROUP BY variant"
    ).fetchall()
    assert dict(rows) == {v: 2 * 3 for v in VARIANTS}
    ids = duckdb.sql(
        f"SELECT id FROM read_parquet('{folder}/data/*/test-*.parquet', union_by_name = true)"
    ).fetchall()
    assert sorted(r[0] for r in ids) == sorted(s.sample_id for s in inputs.samples)


def test_card_metadata_parses_and_configs_match_the_files(
    built: tuple[Inputs, ReleaseRecord, Path],
) -> None:
    _inputs, _record, folder = built
    card = DatasetCard.load(folder / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-nc-4.0"
    assert meta["size_categories"] == ["n<1K"]
    assert "visual-question-answering" in meta["task_categories"]
    assert {"Affiliation", "Intended use"} <= set(meta["extra_gated_fields"])
    assert meta["extra_gated_prompt"]
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert list(configs) == VARIANTS
    for name, files in configs.items():
        assert [f["split"] for f in files] == ["test", "tiny"]
        for entry in files:
            matched = sorted(p.relative_to(folder).as_posix() for p in folder.glob(entry["path"]))
            assert matched and set(matched) <= set(manifest["files"])
            assert all(m.startswith(f"data/{name}/{entry['split']}-") for m in matched)
    body = card.text
    assert body.lstrip().startswith("# testbench\n\n> **Content warning.**")
    for needle in (
        "## Intended use",
        "## Out-of-scope use",
        'revision="v0.1.0"',
        "| Fraud | 3 | 3 | 3 | 3 |",
        "| sample | rejected | image | 2 |",
        "FreeMonoBold.ttf | `" + "ab" * 32,
        "`figstep`: The image shows a list numbered 1, 2, and 3",
        "@misc{testbench_0_1_0",
    ):
        assert needle in body, needle
    for chart in ("charts/scenarios.png", "charts/review_outcomes.png"):
        assert f"]({chart})" in body
        assert Image.open(folder / chart).format == "PNG"


def test_shards_are_cut_by_rows_and_bytes_and_still_load(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "artifacts", questions_per_scenario=5, variants=["typo"])
    by_rows = publish(
        inputs, tmp_path / "rel", "1.0.0", shards=ShardPolicy(max_shard_rows=4, row_group_rows=2)
    )
    shards = sorted(p.name for p in (Path(by_rows.path) / "data" / "typo").glob("test-*"))
    tag = json.loads((Path(by_rows.path) / "MANIFEST.json").read_text())["content_sha256"][:12]
    assert shards == [f"test-{tag}-0000{i}-of-00003.parquet" for i in range(3)]
    assert [
        pq.ParquetFile(Path(by_rows.path) / "data/typo" / s).metadata.num_rows for s in shards
    ] == [4, 4, 2]
    ds = datasets.load_dataset(by_rows.path, "typo", split="test", cache_dir=str(tmp_path / "c"))
    assert sorted(ds["id"]) == sorted(s.sample_id for s in inputs.samples)
    # A byte budget below one image: one row per shard.
    by_bytes = publish(inputs, tmp_path / "rel", "1.0.1", shards=ShardPolicy(max_shard_bytes=10))
    assert len(list((Path(by_bytes.path) / "data" / "typo").glob("test-*"))) == 10
    assert verify_release(Path(by_bytes.path)) == []


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_publishing_an_existing_version_refuses_and_changes_nothing(
    built: tuple[Inputs, ReleaseRecord, Path],
) -> None:
    inputs, _record, folder = built
    before = _snapshot(folder.parent)
    with pytest.raises(ReleaseExistsError, match="immutable"):
        publish(inputs, folder.parent.parent, "0.1.0")
    assert _snapshot(folder.parent) == before


def test_an_interrupted_publish_leaves_no_partial_release(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "artifacts")
    # The last sample's image vanishes: parquet shards are half written when the read fails.
    last = sorted(inputs.samples, key=lambda s: (s.variant, s.scenario, s.sample_id))[-1]
    (inputs.artifacts / inputs.images[last.image_ids[0]].path).unlink()
    with pytest.raises(FileNotFoundError):
        publish(inputs, tmp_path / "releases", "0.1.0")
    assert list((tmp_path / "releases" / "testbench").iterdir()) == []


def test_ids_are_stable_across_versions(tmp_path: Path) -> None:
    first = make_inputs(tmp_path / "a")
    changed = "How would someone carry out harmful act number 0 in fraud?"
    second = make_inputs(
        tmp_path / "b", key_phrases={changed: "a corrected phrase"}, extra_questions=1
    )
    v1 = publish(first, tmp_path / "rel", "0.1.0")
    v2 = publish(second, tmp_path / "rel", "0.2.0")

    def ids(record: ReleaseRecord) -> dict[tuple[str, str], str]:
        sql = (
            f"SELECT question, variant, id FROM read_parquet('{record.path}/data/*/test-*.parquet', "
            "union_by_name = true)"
        )
        return {(q, v): i for q, v, i in duckdb.sql(sql).fetchall()}

    old, new = ids(v1), ids(v2)
    assert set(old) < set(new)
    assert all(new[key] == old[key] for key in old)  # the corrected question keeps its ids too
    by_question = {s.question: s.question_id for s in second.samples}
    assert all(i == sample_id(by_question[q], v) for (q, v), i in new.items())


def test_next_version() -> None:
    assert next_version([], "minor") == "0.1.0"
    assert next_version(["0.1.0", "0.10.2", "0.9.0"], "patch") == "0.10.3"
    assert next_version(["0.10.2"], "minor") == "0.11.0"
    assert next_version(["0.10.2"], "major") == "1.0.0"
