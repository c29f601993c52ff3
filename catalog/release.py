"""Write a release folder on the Hugging Face dataset layout: parquet per config and split,
image bytes embedded, a dataset card with YAML `configs:`, and a manifest of checksums.

A release is written to a temporary folder beside its destination and renamed into place only
when complete, so an interrupted publish leaves nothing behind; an existing version is never
overwritten.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from catalog.card import render_card
from schemas.config import BuildConfig
from schemas.records import ImageRecord, ReleaseRecord, Sample, stable_id

SPLITS = ("test", "tiny")
# datasets reads these feature declarations from the parquet schema metadata.
_IMAGE = {"_type": "Image"}
_TEXT = {"dtype": "string", "_type": "Value"}
TEXT_COLUMNS = (
    "id",
    "scenario",
    "scenario_name",
    "question",
    "key_phrase",
    "phrase_type",
    "variant",
    "prompt",
)


class ReleaseExistsError(FileExistsError):
    pass


def tiny_question_ids(samples: Sequence[Sample], fraction: float) -> set[str]:
    """A deterministic ~`fraction` of each scenario's questions (at least one per scenario)."""
    by_scenario: dict[str, set[str]] = defaultdict(set)
    for sample in samples:
        by_scenario[sample.scenario].add(sample.question_id)
    chosen: set[str] = set()
    for ids in by_scenario.values():
        ranked = sorted(ids, key=lambda q: stable_id("tiny", q))
        chosen.update(ranked[: max(1, math.ceil(len(ranked) * fraction))])
    return chosen


def _features(variant: str) -> dict[str, Any]:
    features: dict[str, Any] = {name: _TEXT for name in TEXT_COLUMNS}
    if variant == "figstep_pro":
        features["images"] = {"_type": "List", "feature": _IMAGE}
    elif variant != "text_only":
        features["image"] = _IMAGE
    return features


def _arrow_schema(variant: str) -> pa.Schema:
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [pa.field(name, pa.string()) for name in TEXT_COLUMNS]
    if variant == "figstep_pro":
        fields.append(pa.field("images", pa.list_(image)))
    elif variant != "text_only":
        fields.append(pa.field("image", image))
    meta = {"huggingface": json.dumps({"info": {"features": _features(variant)}})}
    return pa.schema(fields, metadata=meta)


def _image_cell(record: ImageRecord, artifacts_dir: Path) -> dict[str, Any]:
    return {"bytes": (artifacts_dir / record.path).read_bytes(), "path": Path(record.path).name}


def _row(
    sample: Sample,
    scenario_names: dict[str, str],
    images: dict[str, ImageRecord],
    artifacts_dir: Path,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": sample.sample_id,
        "scenario": sample.scenario,
        "scenario_name": scenario_names.get(sample.scenario, sample.scenario),
        "question": sample.question,
        "key_phrase": sample.key_phrase,
        "phrase_type": sample.phrase_type,
        "variant": sample.variant,
        "prompt": sample.prompt,
    }
    cells = [_image_cell(images[i], artifacts_dir) for i in sample.image_ids]
    if sample.variant == "figstep_pro":
        row["images"] = cells
    elif sample.variant != "text_only":
        row["image"] = cells[0]
    return row


def content_fingerprint(samples: Sequence[Sample], images: dict[str, ImageRecord]) -> str:
    """A hash of everything a release row shows: same fingerprint, same dataset."""
    items = sorted(
        (
            s.sample_id,
            s.scenario,
            s.question,
            s.key_phrase,
            s.phrase_type,
            s.prompt,
            [images[i].sha256 for i in s.image_ids],
        )
        for s in samples
    )
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()


def existing_fingerprint(release_dir: Path) -> str | None:
    manifest = release_dir / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("content_sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_split(
    path: Path,
    variant: str,
    samples: Sequence[Sample],
    scenario_names: dict[str, str],
    images: dict[str, ImageRecord],
    artifacts_dir: Path,
    rows_per_group: int = 256,
) -> None:
    """Stream rows into one parquet file in row groups: memory holds one group of images."""
    schema = _arrow_schema(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(samples), 1), rows_per_group):
            chunk = samples[start : start + rows_per_group]
            rows = [_row(s, scenario_names, images, artifacts_dir) for s in chunk]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def write_release(
    *,
    samples: Sequence[Sample],
    images: dict[str, ImageRecord],
    artifacts_dir: Path,
    releases_dir: Path,
    config: BuildConfig,
    run_id: str,
    scenario_names: dict[str, str],
    card_context: dict[str, Any],
) -> ReleaseRecord:
    """Write `releases_dir/<name>/<version>/` from accepted samples; refuse an existing version."""
    name, version = config.release.name, config.release.version
    final = releases_dir / name / version
    if final.exists():
        raise ReleaseExistsError(
            f"release {name} {version} already exists at {final}; versions are immutable"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    try:
        ordered = sorted(samples, key=lambda s: (s.variant, s.scenario, s.sample_id))
        tiny = tiny_question_ids(ordered, config.release.tiny_fraction)
        counts: Counter[str] = Counter()
        data_files: dict[str, dict[str, str]] = {}
        variants = [v for v in config.variants if any(s.variant == v for s in ordered)]
        for variant in variants:
            rows = [s for s in ordered if s.variant == variant]
            splits = {"test": rows, "tiny": [s for s in rows if s.question_id in tiny]}
            data_files[variant] = {}
            for split, split_rows in splits.items():
                relative = f"data/{variant}/{split}-00000-of-00001.parquet"
                _write_split(
                    staging / relative, variant, split_rows, scenario_names, images, artifacts_dir
                )
                data_files[variant][split] = relative
                counts[f"{variant}/{split}"] = len(split_rows)
        (staging / "build_config.yaml").write_text(
            yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        card = render_card(
            config=config,
            samples=ordered,
            data_files=data_files,
            scenario_names=scenario_names,
            context=card_context,
        )
        (staging / "README.md").write_text(card, encoding="utf-8")
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "name": name,
            "version": version,
            "run_id": run_id,
            "content_sha256": content_fingerprint(ordered, images),
            "counts": dict(sorted(counts.items())),
            "files": {
                str(p.relative_to(staging)): {"sha256": _sha256(p), "bytes": p.stat().st_size}
                for p in files
            },
        }
        manifest_path = staging / "MANIFEST.json"
        manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReleaseRecord(
        name=name,
        version=version,
        path=str(final),
        run_id=run_id,
        counts=dict(counts),
        manifest_sha256=_sha256(final / "MANIFEST.json"),
        sample_ids=[s.sample_id for s in ordered],
    )
