"""The questions of a release (one per question id), from its samples, its folder or the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq

from catalog.store import Catalog
from schemas.quality import QuestionText
from schemas.records import CONTRAST_CONFIG, Sample


def _unique(rows: Iterable[tuple[str, str, str]]) -> list[QuestionText]:
    seen: dict[str, QuestionText] = {}
    for question_id, scenario, text in rows:
        seen.setdefault(
            question_id, QuestionText(question_id=question_id, scenario=scenario, text=text)
        )
    return list(seen.values())


def sample_questions(samples: Iterable[Sample]) -> list[QuestionText]:
    """The harmful questions (benign twins are the contrast set, not the benchmark's)."""
    return _unique((s.question_id, s.scenario, s.question) for s in samples if s.twin_of is None)


def folder_questions(release_dir: Path) -> list[QuestionText]:
    """Read from the parquet of every config's test split (three text columns only); the
    `contrast` config's benign twins are left out."""
    shards = sorted(
        p
        for p in (release_dir / "data").glob("*/test-*.parquet")
        if p.parent.name != CONTRAST_CONFIG
    )
    if not shards:
        raise FileNotFoundError(
            f"{release_dir}: no data/<config>/test-*.parquet (not a release folder)"
        )
    rows: list[tuple[str, str, str]] = []
    for shard in shards:
        table = pq.read_table(shard, columns=["question_id", "scenario", "question"])
        rows += zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    return _unique(rows)


def catalog_questions(catalog: Catalog, name: str, version: str) -> list[QuestionText]:
    _, rows = catalog.query(
        "SELECT DISTINCT question_id, scenario, question FROM v_release_samples "
        "WHERE name = ? AND version = ? AND twin_of IS NULL ORDER BY scenario, question_id",
        [name, version],
    )
    return _unique(rows)
