"""Your own questions: a JSONL file (one object per line) or a CSV file with a header.

`questions_from.columns` names the key or column of each field; unset, a column named like the
field is read when the file has one. Scenarios are taxonomy slugs, names or ids (a `scenario`
column, or `questions_from.scenario` for every record). Original ids come from the `id`
column, else the record's line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generators.importers.base import (
    RECORD_FIELDS,
    ImportedRecord,
    ImportFailed,
    existing,
    importer,
    scenario_lookup,
)
from generators.importers.jailbreakv import truthy
from generators.importers.safebench import read_csv
from schemas.config import QuestionsFromConfig
from schemas.records import Taxonomy

TABLE_OPTIONS = ("columns", "scenario")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path}: not readable: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{path}: line {number}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise ImportFailed(f"{path}: line {number}: expected a JSON object")
        yield number, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(read_csv(path, ()), start=2)


def _records(
    source: QuestionsFromConfig,
    taxonomy: Taxonomy,
    path: Path,
    rows: Iterator[tuple[int, dict[str, Any]]],
) -> list[ImportedRecord]:
    columns = source.columns
    where = {name: getattr(columns, name) or name for name in type(columns).model_fields}
    scenarios = scenario_lookup(taxonomy)
    records = []
    for number, row in rows:
        at = f"{path}: line {number}"
        question = row.get(where["question"])
        if not isinstance(question, str) or not question.strip():
            raise ImportFailed(f"{at}: no question in {where['question']!r}")
        named = row.get(where["scenario"]) or source.scenario
        scenario = scenarios.get(str(named).strip().casefold()) if named is not None else None
        if scenario is None:
            raise ImportFailed(
                f"{at}: scenario {named!r} is not in the {taxonomy.name} taxonomy "
                f"(set questions_from.columns.scenario or questions_from.scenario)"
            )
        fields = {name: row.get(where[name]) for name in RECORD_FIELDS}
        wrong = [name for name, value in fields.items() if not isinstance(value, str | None)]
        if wrong:
            raise ImportFailed(f"{at}: {', '.join(wrong)} must be text")
        tiny = row.get(where["tiny"])
        records.append(
            ImportedRecord(
                scenario=scenario,
                original_id=str(row.get(where["id"], number)),
                question=question,
                tiny=None if tiny in (None, "") else tiny is True or truthy(str(tiny)),
                **{name: value or "" for name, value in fields.items()},
            )
        )
    return records


@importer("jsonl", taxonomy=None, options=TABLE_OPTIONS, summary="your own JSONL file")
def read_jsonl(source: QuestionsFromConfig, taxonomy: Taxonomy) -> list[ImportedRecord]:
    path = existing(source.path, "JSONL")
    return _records(source, taxonomy, path, _jsonl_rows(path))


@importer("csv", taxonomy=None, options=TABLE_OPTIONS, summary="your own CSV file")
def read_table_csv(source: QuestionsFromConfig, taxonomy: Taxonomy) -> list[ImportedRecord]:
    path = existing(source.path, "CSV")
    return _records(source, taxonomy, path, _csv_rows(path))
