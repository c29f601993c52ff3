"""A release read back per question, for exports to the originals' layouts: the text of each
question (from any config's row) with each config's prompt, and each config's images streamed
one row at a time so memory stays flat."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from PIL import Image

from catalog.release import SPLITS, TEXT_COLUMNS, verify_release
from schemas.config import BuildConfig
from schemas.records import CONTRAST_CONFIG, Taxonomy
from schemas.taxonomy import load_taxonomy


class ExportError(ValueError):
    """The release cannot be exported to the layout asked for: one line saying why."""


@dataclass
class QuestionRow:
    question_id: str
    original_id: str
    scenario: str
    scenario_name: str
    question: str
    changed_question: str
    key_phrase: str
    phrase_type: str
    figstep_statement: str
    figstep_pro_template: str
    prompts: dict[str, str] = field(default_factory=dict)  # config -> the row's prompt


def checked_release(release_dir: Path, split: str) -> BuildConfig:
    """The release's build config, after checking the folder against its manifest."""
    if split not in SPLITS:
        raise ExportError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not (release_dir / "build_config.yaml").is_file():
        raise ExportError(f"{release_dir} is not a release folder (no build_config.yaml)")
    problems = verify_release(release_dir)
    if problems:
        raise ExportError(f"{release_dir} does not match its manifest: " + "; ".join(problems[:5]))
    data = yaml.safe_load((release_dir / "build_config.yaml").read_text(encoding="utf-8"))
    return BuildConfig.model_validate(data)


def release_taxonomy(config: BuildConfig, expected: str) -> Taxonomy:
    if config.taxonomy != expected:
        raise ExportError(
            f"this layout holds the {expected} taxonomy; the release has {config.taxonomy}"
        )
    return load_taxonomy(config.taxonomy)


def _shards(release_dir: Path, config: str, split: str) -> list[Path]:
    return sorted((release_dir / "data" / config).glob(f"{split}-*.parquet"))


def read_questions(release_dir: Path, split: str) -> dict[str, QuestionRow]:
    """Every question of the split (any variant config; the benign twins of `contrast` have no
    place in the originals' layouts), with each config's prompt for it."""
    text = [c for c in TEXT_COLUMNS if c not in ("id", "variant", "prompt")]
    questions: dict[str, QuestionRow] = {}
    configs = (release_dir / "data").iterdir()
    for config_dir in sorted(p for p in configs if p.is_dir() and p.name != CONTRAST_CONFIG):
        for shard in _shards(release_dir, config_dir.name, split):
            table = pq.read_table(shard, columns=[*text, "variant", "prompt"])
            for row in table.to_pylist():
                found = questions.setdefault(
                    row["question_id"], QuestionRow(**{c: row[c] for c in text})
                )
                found.prompts[row["variant"]] = row["prompt"]
    return questions


def iter_images(release_dir: Path, config: str, split: str) -> Iterator[tuple[str, list[bytes]]]:
    """(question id, the row's image bytes in order) for each row of one config's split."""
    for shard in _shards(release_dir, config, split):
        parquet = pq.ParquetFile(shard)
        column = "images" if "images" in parquet.schema_arrow.names else "image"
        for batch in parquet.iter_batches(batch_size=32, columns=["question_id", column]):
            for row in batch.to_pylist():
                cells = row[column] if column == "images" else [row[column]]
                yield row["question_id"], [c["bytes"] for c in cells if c is not None]


def encoded_as(data: bytes, image_format: str, quality: int = 75) -> tuple[bytes, bool]:
    """`data` in `image_format` ("JPEG" or "PNG"): unchanged when it already is, else re-encoded
    (RGB); the flag says whether it was re-encoded."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format == image_format:
            return data, False
        out = io.BytesIO()
        options = {"quality": quality} if image_format == "JPEG" else {}
        image.convert("RGB").save(out, format=image_format, **options)
    return out.getvalue(), True
