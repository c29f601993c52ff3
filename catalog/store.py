"""The DuckDB catalog: the lineage record of every run, call, record, image, decision and release.

One writer (the flow); everything else opens it read-only. Tables mirror the pydantic records
in `schemas.records` column for column; nested values are stored as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from catalog.migrations import migrate
from catalog.views import create_views
from schemas.evaluation import (
    CalibrationItem,
    CalibrationMetric,
    EvalResult,
    EvalRun,
    HumanLabelRecord,
    JudgeVerdict,
)
from schemas.quality import DiversityRow, OverlapRow
from schemas.records import (
    DerivedText,
    Extraction,
    ImageRecord,
    LLMCall,
    OcrCheck,
    Question,
    ReleaseRecord,
    ReviewDecision,
    RunRecord,
    Sample,
)

M = TypeVar("M", bound=BaseModel)

# table -> (record model, key columns, scoped to a run?)
TABLES: dict[str, tuple[type[BaseModel], tuple[str, ...], bool]] = {
    "runs": (RunRecord, ("run_id",), False),
    "llm_calls": (LLMCall, ("run_id", "call_id"), False),
    "questions": (Question, ("run_id", "question_id", "call_id", "round"), True),
    "extractions": (Extraction, ("run_id", "question_id"), True),
    "derivations": (DerivedText, ("run_id", "question_id", "derivation", "params_key"), True),
    "images": (ImageRecord, ("image_id",), False),
    "ocr_checks": (OcrCheck, ("image_id",), False),
    "samples": (Sample, ("run_id", "sample_id"), True),
    "reviews": (ReviewDecision, ("run_id", "sample_id", "reviewer", "decided_at"), True),
    "releases": (ReleaseRecord, ("name", "version"), False),
    "eval_runs": (EvalRun, ("run_id",), False),
    "eval_results": (EvalResult, ("run_id", "sample_id", "attempt"), True),
    "diversity": (DiversityRow, ("release", "version", "scenario"), False),
    "overlap": (OverlapRow, ("release", "version", "against", "scenario"), False),
    "eval_verdicts": (JudgeVerdict, ("run_id", "sample_id", "attempt", "judge"), True),
    "eval_calibration_items": (CalibrationItem, ("run_id", "sample_id", "attempt"), True),
    "eval_human_labels": (
        HumanLabelRecord,
        ("run_id", "sample_id", "attempt", "annotator"),
        True,
    ),
    "eval_calibration": (CalibrationMetric, ("run_id", "judge"), True),
}


class CatalogError(RuntimeError):
    pass


def _column_type(annotation: Any) -> str:
    text = str(annotation)
    if annotation is bool:
        return "BOOLEAN"
    if annotation is int:
        return "BIGINT"
    if annotation is float:
        return "DOUBLE"
    if "datetime" in text:
        return "TIMESTAMPTZ"
    if annotation in (str,) or text in ("str | None", "typing.Optional[str]"):
        return "VARCHAR"
    if text in ("bool | None",):
        return "BOOLEAN"
    if text in ("int | None",):
        return "BIGINT"
    if text in ("float | None",):
        return "DOUBLE"
    if "Literal" in text or text == "<class 'str'>":
        return "VARCHAR"
    return "JSON"


def _columns(model: type[BaseModel], scoped: bool) -> list[tuple[str, str]]:
    cols = [(name, _column_type(field.annotation)) for name, field in model.model_fields.items()]
    if scoped and "run_id" not in model.model_fields:
        cols.insert(0, ("run_id", "VARCHAR"))
    return cols


def _row(record: BaseModel, columns: list[tuple[str, str]], run_id: str | None) -> dict[str, Any]:
    data = record.model_dump()
    row: dict[str, Any] = {}
    for name, kind in columns:
        value = run_id if name == "run_id" and name not in data else data[name]
        if kind == "JSON":
            value = json.dumps(value, default=str, sort_keys=True)
        row[name] = value
    return row


class Catalog:
    """A DuckDB file holding the lineage of every run. Use as a context manager."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        if read_only and not path.is_file():
            raise CatalogError(f"no catalog at {path}: run `safetyforge build` first")
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise CatalogError(f"cannot open catalog {path}: {exc}") from None
        if not read_only:
            self._create()
        create_views(self.con, temporary=read_only)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def _create(self) -> None:
        for table, (model, keys, scoped) in TABLES.items():
            cols = ", ".join(f'"{n}" {t}' for n, t in _columns(model, scoped))
            self.con.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY ({', '.join(keys)}))"
            )
            for name, kind in _columns(model, scoped):  # a catalog made before a field existed
                self.con.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{name}" {kind}')
        migrate(self.con)

    def upsert(self, table: str, records: Sequence[BaseModel], run_id: str | None = None) -> int:
        """Insert records, replacing rows with the same key (re-runs are idempotent)."""
        if not records:
            return 0
        model, _keys, scoped = TABLES[table]
        columns = _columns(model, scoped)
        rows = [_row(r, columns, run_id) for r in records]
        # Last write wins for repeated keys inside one batch.
        arrow = pa.Table.from_pylist(rows)
        names = ", ".join(f'"{n}"' for n, _ in columns)
        casts = ", ".join(f'CAST("{n}" AS {t}) AS "{n}"' for n, t in columns)
        self.con.register("_incoming", arrow)
        try:
            self.con.execute(
                f"INSERT OR REPLACE INTO {table} ({names}) "
                f"SELECT {casts} FROM (SELECT DISTINCT ON ({', '.join(_keys)}) * FROM _incoming)"
            )
        finally:
            self.con.unregister("_incoming")
        return len(rows)

    def replace_run_rows(self, table: str, run_id: str, records: Sequence[BaseModel]) -> int:
        """Make the run's rows in `table` exactly `records` (one transaction)."""
        self.con.execute("BEGIN")
        try:
            self.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
            count = self.upsert(table, records, run_id)
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return count

    def records(self, table: str, where: str = "", params: Iterable[Any] = ()) -> list[Any]:
        """Read rows back as the table's record model."""
        model, _keys, _scoped = TABLES[table]
        columns = _columns(model, False)
        names = ", ".join(f'"{n}"' for n, _ in columns)
        sql = f"SELECT {names} FROM {table}" + (f" WHERE {where}" if where else "")
        out = []
        for values in self.con.execute(sql, list(params)).fetchall():
            data = {}
            for (name, kind), value in zip(columns, values, strict=True):
                if value is None and not model.model_fields[name].is_required():
                    continue  # a column added after the row was written: the field's default
                data[name] = json.loads(value) if kind == "JSON" else value
            out.append(model.model_validate(data))
        return out

    def query(
        self, sql: str, params: Iterable[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.con.execute(sql, list(params))
        return [d[0] for d in cursor.description or []], cursor.fetchall()

    def latest_run(self) -> str | None:
        row = self.con.execute(
            "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def latest_completed_run(self, release_name: str) -> RunRecord | None:
        """The newest completed run whose config publishes under `release_name`."""
        found = self.records(
            "runs",
            "status = 'completed' AND json_extract_string(config, '$.release.name') = ? "
            "ORDER BY finished_at DESC LIMIT 1",
            [release_name],
        )
        return found[0] if found else None

    def run(self, run_id: str) -> RunRecord:
        found = self.records("runs", "run_id = ?", [run_id])
        if not found:
            raise CatalogError(f"no run {run_id!r} in {self.path}")
        return found[0]

    def run_records(self, table: str, run_id: str, model: type[M]) -> list[M]:
        rows = self.records(table, "run_id = ?", [run_id])
        return [model.model_validate(r.model_dump()) for r in rows]

    def images_by_id(self, image_ids: Iterable[str]) -> dict[str, ImageRecord]:
        ids = sorted(set(image_ids))
        if not ids:
            return {}
        return {
            r.image_id: r for r in self.records("images", "image_id IN (SELECT unnest(?))", [ids])
        }

    def release(self, name: str, version: str) -> ReleaseRecord:
        found = self.records("releases", "name = ? AND version = ?", [name, version])
        if not found:
            raise CatalogError(f"no release {name} {version} in {self.path}")
        return found[0]

    def release_names(self) -> list[str]:
        rows = self.con.execute("SELECT DISTINCT name FROM releases ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def release_versions(self, name: str) -> list[str]:
        rows = self.con.execute("SELECT version FROM releases WHERE name = ?", [name]).fetchall()
        return sorted((r[0] for r in rows), key=lambda v: tuple(int(p) for p in v.split(".")))

    def attach_release(
        self, release_dir: Path, prefix: str = "release", split: str = "test"
    ) -> list[str]:
        """Temporary views `<prefix>_<config>` over one split of a release folder's parquet."""
        names = []
        for config_dir in sorted(p for p in (release_dir / "data").iterdir() if p.is_dir()):
            view = f"{prefix}_{config_dir.name}"
            pattern = str(config_dir / f"{split}-*.parquet").replace("'", "''")
            self.con.execute(
                f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_parquet('{pattern}')"
            )
            names.append(view)
        return names
