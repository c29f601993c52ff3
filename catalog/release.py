"""Write a release folder on the Hugging Face dataset layout: parquet shards per config and split
under `data/<config>/`, image bytes embedded, a dataset card with YAML `configs:`, charts, the
resolved build config, and a manifest of checksums and row counts.

A release is written to a temporary folder beside its destination and renamed into place only
when complete, so an interrupted publish leaves nothing behind; an existing version is never
overwritten. Rows are streamed: memory holds one row group of images, whatever the sample count.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import Field

from catalog.card import CHARTS, EXAMPLES, CardContext, citation, render_card, source_rows
from catalog.charts import example_sheet, quality_charts, review_chart, scenario_chart
from catalog.croissant import CROISSANT_FILE, croissant_metadata
from catalog.outcomes import OutcomeCount
from schemas._base import StrictModel
from schemas.config import BuildConfig
from schemas.images import image_bytes, own_file
from schemas.quality import QualityReport
from schemas.records import ImageRecord, ReleaseRecord, Sample, stable_id
from schemas.tasks import REFUSAL, task_columns
from schemas.variants import VariantSpec

SPLITS = ("test", "tiny")
MANIFEST = "MANIFEST.json"
# datasets reads these feature declarations from the parquet schema metadata.
_IMAGE = {"_type": "Image"}
_TEXT = {"dtype": "string", "_type": "Value"}
_TEXT_LIST = {"_type": "List", "feature": _TEXT}
TEXT_COLUMNS = (
    "id",
    # The same for every variant of one question: pairs image variants with text_only.
    "question_id",
    # The record's id in the file it was imported from ("" when the LLM wrote it).
    "original_id",
    "scenario",
    "scenario_name",
    "question",
    "changed_question",
    "key_phrase",
    "phrase_type",
    "figstep_statement",
    "figstep_pro_template",
    "variant",
    "prompt",
)
# Rules a published record fails (imported records are kept as published and flagged).
LIST_COLUMNS = ("warnings",)
# Extra columns of collection configs (`natural`): where the existing image comes from.
COLLECTION_COLUMNS = ("source_image_id", "source", "license")
Bump = Literal["major", "minor", "patch"]


class ReleaseExistsError(FileExistsError):
    pass


class ShardPolicy(StrictModel):
    """Where parquet files and row groups are cut. Defaults follow the Hub's advice (shards of a
    few hundred MB; row groups small enough that a reader streams images without a spike)."""

    max_shard_bytes: int = Field(default=256 << 20, ge=1)
    max_shard_rows: int = Field(default=100_000, ge=1)
    row_group_bytes: int = Field(default=32 << 20, ge=1)
    row_group_rows: int = Field(default=256, ge=1)


def tiny_question_ids(samples: Iterable[Sample], fraction: float) -> set[str]:
    """The questions of the tiny split: those an imported benchmark lists (`Sample.tiny`), and a
    deterministic ~`fraction` of each scenario's questions that carry no such flag (at least
    one per scenario)."""
    by_scenario: dict[str, set[str]] = defaultdict(set)
    chosen: set[str] = set()
    for sample in samples:
        if sample.tiny is None:
            by_scenario[sample.scenario].add(sample.question_id)
        elif sample.tiny:
            chosen.add(sample.question_id)
    for ids in by_scenario.values():
        ranked = sorted(ids, key=lambda q: stable_id("tiny", q))
        chosen.update(ranked[: max(1, math.ceil(len(ranked) * fraction))])
    return chosen


def next_version(existing: Iterable[str], bump: Bump) -> str:
    """The version after the highest of `existing` (from 0.0.0 when there is none)."""
    parsed = [tuple(int(p) for p in v.split(".")) for v in existing]
    major, minor, patch = max(parsed, default=(0, 0, 0))
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def text_columns(spec: VariantSpec, task: str = REFUSAL) -> tuple[str, ...]:
    """A config's text columns; a labelled task adds `task` and its label columns."""
    collection = COLLECTION_COLUMNS if spec.question_source == "collection" else ()
    return TEXT_COLUMNS + collection + task_columns(task)


def image_column(spec: VariantSpec) -> str | None:
    """Where a config's images go: `image` (one per row), `images` (an ordered list), or none."""
    return {"none": None, "one": "image", "many": "images"}[spec.yields]


def collection_fields(sample: Sample, images: Mapping[str, ImageRecord]) -> dict[str, str]:
    """Source, licence and original id of a collection sample's image (from its ImageRecord)."""
    params = images[sample.image_ids[0]].params
    return {
        "source_image_id": str(params.get("original_id", "")),
        "source": str(params.get("source", "")),
        "license": str(params.get("license", "")),
    }


def _features(spec: VariantSpec, task: str) -> dict[str, Any]:
    features: dict[str, Any] = {name: _TEXT for name in text_columns(spec, task)}
    features |= {name: _TEXT_LIST for name in LIST_COLUMNS}
    column = image_column(spec)
    if column == "images":
        features["images"] = {"_type": "List", "feature": _IMAGE}
    elif column == "image":
        features["image"] = _IMAGE
    return features


def arrow_schema(spec: VariantSpec, task: str = REFUSAL) -> pa.Schema:
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [pa.field(name, pa.string()) for name in text_columns(spec, task)]
    fields += [pa.field(name, pa.list_(pa.string())) for name in LIST_COLUMNS]
    column = image_column(spec)
    if column == "images":
        fields.append(pa.field("images", pa.list_(image)))
    elif column == "image":
        fields.append(pa.field("image", image))
    meta = {"huggingface": json.dumps({"info": {"features": _features(spec, task)}})}
    return pa.schema(fields, metadata=meta)


def _row(
    sample: Sample,
    spec: VariantSpec,
    scenario_names: Mapping[str, str],
    images: Mapping[str, ImageRecord],
    artifacts_dir: Path,
    task: str = REFUSAL,
) -> tuple[dict[str, Any], int]:
    """One parquet row and its approximate size in bytes."""
    row: dict[str, Any] = {
        "id": sample.sample_id,
        "question_id": sample.question_id,
        "original_id": sample.original_id or "",
        "scenario": sample.scenario,
        "scenario_name": scenario_names.get(sample.scenario, sample.scenario),
        "question": sample.question,
        "changed_question": sample.changed_question,
        "key_phrase": sample.key_phrase,
        "phrase_type": sample.phrase_type,
        "figstep_statement": sample.figstep_statement,
        "figstep_pro_template": sample.figstep_pro_template,
        "variant": sample.variant,
        "prompt": sample.prompt,
        "warnings": list(sample.warnings),
    }
    if spec.question_source == "collection":
        row |= collection_fields(sample, images)
    if task != REFUSAL:
        row |= {"task": task} | {c: sample.labels.get(c, "") for c in task_columns(task)[1:]}
    cells = [_cell(images[i], artifacts_dir) for i in sample.image_ids]
    column = image_column(spec)
    if column == "images":
        row["images"] = cells
    elif column == "image":
        row["image"] = cells[0]
    size = sum(len(c["bytes"]) for c in cells) + sum(len(row[c]) for c in TEXT_COLUMNS)
    return row, size


def _cell(record: ImageRecord, artifacts_dir: Path) -> dict[str, Any]:
    """A datasets Image cell, named as the image's own file (a packed one: after its id)."""
    return {"bytes": image_bytes(artifacts_dir, record), "path": Path(own_file(record)).name}


def row_content_sha256(sample: Sample, images: Mapping[str, ImageRecord]) -> str:
    """A hash of everything one release row shows; two versions differ on a row iff this does."""
    item = [
        sample.scenario,
        sample.variant,
        sample.question,
        sample.key_phrase,
        sample.phrase_type,
        sample.prompt,
        [images[i].sha256 for i in sample.image_ids],
        sample.question_id,
        sample.original_id or "",
        sample.changed_question,
        sample.figstep_statement,
        sample.figstep_pro_template,
        sample.warnings,
    ]
    # A published tiny list decides the splits; hashed only when set, so older rows keep theirs.
    if sample.tiny is not None:
        item.append(sample.tiny)
    if sample.image_ids and images[sample.image_ids[0]].kind == "collection":
        item.append(collection_fields(sample, images))  # a new licence is a new row
    if sample.labels:  # a labelled task's (corrected) labels; refusal rows hash as before
        item.append(sample.labels)
    return hashlib.sha256(json.dumps(item).encode("utf-8")).hexdigest()


def content_fingerprint(samples: Iterable[Sample], images: Mapping[str, ImageRecord]) -> str:
    """A hash of every row: same fingerprint, same dataset."""
    rows = sorted((s.sample_id, row_content_sha256(s, images)) for s in samples)
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def read_manifest(release_dir: Path) -> dict[str, Any]:
    return json.loads((release_dir / MANIFEST).read_text(encoding="utf-8"))


def existing_fingerprint(release_dir: Path) -> str | None:
    if not (release_dir / MANIFEST).is_file():
        return None
    return read_manifest(release_dir).get("content_sha256")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _ShardedWriter:
    """Streams rows of one config and split into `<split>-<tag>-NNNNN-of-MMMMM.parquet` shards."""

    def __init__(
        self, directory: Path, split: str, schema: pa.Schema, policy: ShardPolicy, tag: str
    ):
        self.directory, self.split, self.schema, self.policy = directory, split, schema, policy
        self.tag = tag
        self.shards: list[tuple[Path, int]] = []  # (path, rows) of finished shards
        self._writer: pq.ParquetWriter | None = None
        self._shard_rows = self._shard_bytes = 0
        self._group: list[dict[str, Any]] = []
        self._group_bytes = 0
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any], size: int) -> None:
        full = self._shard_rows + len(self._group) >= self.policy.max_shard_rows
        too_big = self._shard_bytes + self._group_bytes + size > self.policy.max_shard_bytes
        if (self._shard_rows or self._group) and (full or too_big):
            self._close_shard()
        self._group.append(row)
        self._group_bytes += size
        if (
            len(self._group) >= self.policy.row_group_rows
            or self._group_bytes >= self.policy.row_group_bytes
        ):
            self._flush()

    def _flush(self) -> None:
        if self._writer is None:
            path = self.directory / f".{self.split}-{len(self.shards):05d}.parquet"
            self._writer = pq.ParquetWriter(path, self.schema)
        if self._group:
            self._writer.write_table(pa.Table.from_pylist(self._group, schema=self.schema))
        self._shard_rows += len(self._group)
        self._shard_bytes += self._group_bytes
        self._group, self._group_bytes = [], 0

    def _close_shard(self) -> None:
        self._flush()
        assert self._writer is not None
        self._writer.close()
        self.shards.append((Path(self._writer.where), self._shard_rows))
        self._writer, self._shard_rows, self._shard_bytes = None, 0, 0

    def close(self) -> dict[str, int]:
        """Finish the last shard (an empty split still gets one, so its config loads) and give
        every shard its final name; returns {file name: rows}."""
        if self._writer is not None or self._group or not self.shards:
            self._close_shard()
        total = len(self.shards)
        named = {}
        for index, (path, rows) in enumerate(self.shards):
            final = self.directory / f"{self.split}-{self.tag}-{index:05d}-of-{total:05d}.parquet"
            path.rename(final)
            named[final.name] = rows
        return named


def _scenario_counts(
    samples: Sequence[Sample], scenario_names: Mapping[str, str]
) -> dict[str, dict[str, int]]:
    cells = Counter((s.scenario, s.variant) for s in samples)
    counts: dict[str, dict[str, int]] = {}
    for slug, name in scenario_names.items():
        row = {v: n for (sc, v), n in cells.items() if sc == slug}
        if row:
            counts[name] = row
    return counts


def write_release(
    *,
    samples: Sequence[Sample],
    images: Mapping[str, ImageRecord],
    artifacts_dir: Path,
    releases_dir: Path,
    config: BuildConfig,
    run_id: str,
    scenario_names: Mapping[str, str],
    card_context: CardContext,
    outcomes: Sequence[OutcomeCount] = (),
    version: str | None = None,
    shards: ShardPolicy | None = None,
    quality: QualityReport | None = None,
) -> ReleaseRecord:
    """Write `releases_dir/<name>/<version>/` from accepted `samples`; refuse an existing version.

    `version` overrides `config.release.version`; the written build_config.yaml states the one used.
    `quality` (diversity and overlap, measured by the caller) goes into the card with its charts.
    """
    policy = shards or ShardPolicy()
    resolved = config.model_copy(deep=True)
    if version is not None:
        resolved.release.version = version
    name, version = resolved.release.name, resolved.release.version
    final = releases_dir / name / version
    if final.exists():
        raise ReleaseExistsError(
            f"release {name} {version} already exists at {final}; versions are immutable"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    try:
        ordered = sorted(samples, key=lambda s: (s.variant, s.scenario, s.sample_id))
        fingerprint = content_fingerprint(ordered, images)
        # `datasets` caches a local folder by its basename (the version), config name and card
        # metadata, not by content: a content tag in the shard names keeps two releases of the
        # same name and version (in other folders) from reading each other's cached rows.
        tag = fingerprint[:12]
        tiny = tiny_question_ids(ordered, resolved.release.tiny_fraction)
        counts: Counter[str] = Counter()
        rows_per_file: dict[str, int] = {}
        data_files: dict[str, dict[str, str]] = {}
        specs = resolved.specs()
        chosen = [spec.name for spec in resolved.chosen_specs()]  # per-language ones expanded
        variants = [v for v in chosen if any(s.variant == v for s in ordered)]
        for variant in variants:
            spec = specs[variant]
            schema = arrow_schema(spec, resolved.task)
            folder = staging / "data" / variant
            writers = {
                split: _ShardedWriter(folder, split, schema, policy, tag) for split in SPLITS
            }
            for sample in (s for s in ordered if s.variant == variant):
                row, size = _row(sample, spec, scenario_names, images, artifacts_dir, resolved.task)
                writers["test"].add(row, size)
                if sample.question_id in tiny:
                    writers["tiny"].add(row, size)
            data_files[variant] = {}
            for split, writer in writers.items():
                for file_name, rows in writer.close().items():
                    rows_per_file[f"data/{variant}/{file_name}"] = rows
                    counts[f"{variant}/{split}"] += rows
                data_files[variant][split] = f"data/{variant}/{split}-{tag}-*.parquet"
        for variant in variants:
            first = min((s for s in ordered if s.variant == variant), key=lambda s: s.sample_id)
            if first.image_ids:
                example_sheet(
                    [image_bytes(artifacts_dir, images[i]) for i in first.image_ids],
                    staging / EXAMPLES.format(config=variant),
                )
        scenario_chart(_scenario_counts(ordered, scenario_names), staging / CHARTS["scenarios"])
        review_chart(outcomes, staging / CHARTS["review"])
        if quality is not None:
            quality_charts(quality, scenario_names, staging)
        (staging / "build_config.yaml").write_text(
            yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        card = render_card(
            config=resolved,
            samples=ordered,
            data_files=data_files,
            scenario_names=scenario_names,
            context=card_context,
            outcomes=outcomes,
            images=images,
            quality=quality,
        )
        (staging / "README.md").write_text(card, encoding="utf-8")
        croissant = croissant_metadata(
            config=resolved,
            schemas={v: arrow_schema(specs[v], resolved.task) for v in variants},
            data_files=data_files,
            context=card_context,
            outcomes=outcomes,
            sources=source_rows(ordered, images),
            n_samples=len(ordered),
            citation=citation(resolved, card_context.run_id),
        )
        (staging / CROISSANT_FILE).write_text(json.dumps(croissant, indent=2), encoding="utf-8")
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = path.relative_to(staging).as_posix()
            files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
            if rel in rows_per_file:
                files[rel]["rows"] = rows_per_file[rel]
        manifest = {
            "name": name,
            "version": version,
            "run_id": run_id,
            "content_sha256": fingerprint,
            "counts": dict(sorted(counts.items())),
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
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
        manifest_sha256=sha256_file(final / MANIFEST),
        sample_ids=[s.sample_id for s in ordered],
    )


def verify_release(release_dir: Path) -> list[str]:
    """Every problem found checking the folder against its manifest (empty when intact)."""
    manifest = read_manifest(release_dir)
    listed = manifest["files"]
    problems = []
    present = {p.relative_to(release_dir).as_posix() for p in release_dir.rglob("*") if p.is_file()}
    for extra in sorted(present - set(listed) - {MANIFEST}):
        problems.append(f"{extra}: not in the manifest")
    for rel, entry in sorted(listed.items()):
        path = release_dir / rel
        if rel not in present:
            problems.append(f"{rel}: missing")
            continue
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
        if "rows" in entry and pq.ParquetFile(path).metadata.num_rows != entry["rows"]:
            problems.append(f"{rel}: row count differs from the manifest")
    return problems
