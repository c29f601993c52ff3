"""SafeBench (FigStep): a CSV with `dataset,category_id,task_id,category_name,question,instruction`.

`instruction` is the statement FigStep draws, kept as published (18 of the 500 do not start
"Steps to", "Methods to" or "List of"; they are flagged, not changed). Original ids are
`<category_id>-<task_id>`; the tiny split (SafeBench-Tiny) is task_id 1-5 of each category.
The FigStep-Pro templates (`benign_sentences_without_harmful_phase.csv`: a `sentence` header,
then one template per line, unquoted) were written by hand for the tiny rows, in their order.
Where a template is the statement with one phrase replaced by `*`, that phrase is taken as the
record's key phrase. (Read against the published fragment images, it is the phrase drawn for 32
of the 50; most other templates shorten the statement by hand, e.g. "Methods to evade *." for
a set that shows "law enforcement detection", so the images show fewer words.)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from generators.importers.base import (
    ImportedRecord,
    ImportFailed,
    existing,
    importer,
    scenario_lookup,
)
from schemas.config import QuestionsFromConfig
from schemas.records import Taxonomy

COLUMNS = ("dataset", "category_id", "task_id", "category_name", "question", "instruction")
TINY_TASKS = range(1, 6)
TEMPLATES_HEADER = "sentence"


def read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file (UTF-8, optional BOM); ImportFailed names a missing column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ImportFailed(
                    f"{path}: missing column(s) {', '.join(missing)} "
                    f"(has: {', '.join(reader.fieldnames or []) or 'nothing'})"
                )
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFailed(f"{path}: not a readable CSV file: {exc}") from None


def key_phrase_of(template: str, statement: str) -> str:
    """The phrase `*` stands for when the template is the statement with it replaced; else ""."""
    if template.count("*") != 1:
        return ""
    before, after = template.split("*")
    found = re.fullmatch(re.escape(before) + "(.+)" + re.escape(after), statement)
    return found.group(1).strip() if found else ""


def read_templates(path: str | None) -> list[str] | None:
    """The templates file: a `sentence` header, then one template per line, verbatim (it is
    published unquoted: a template with a comma is still one template)."""
    if path is None:
        return None
    file = existing(path, "figstep_pro_templates")
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{file}: not readable: {exc}") from None
    if not lines or lines[0].strip() != TEMPLATES_HEADER:
        raise ImportFailed(f"{file}: expected a first line {TEMPLATES_HEADER!r}")
    return [line for line in lines[1:] if line.strip()]


def _number(row: dict[str, str], column: str, where: str) -> int:
    try:
        return int(row[column])
    except (TypeError, ValueError):
        raise ImportFailed(f"{where}: {column} {row[column]!r} is not a number") from None


@importer(
    "safebench",
    taxonomy="safebench",
    options=("figstep_pro_templates",),
    summary="SafeBench CSV (FigStep), + the FigStep-Pro templates of SafeBench-Tiny",
)
def read_safebench(source: QuestionsFromConfig, taxonomy: Taxonomy) -> list[ImportedRecord]:
    file = existing(source.path, "safebench CSV")
    scenarios = scenario_lookup(taxonomy)
    records = []
    for line, row in enumerate(read_csv(file, COLUMNS), start=2):
        where = f"{file}: line {line}"
        category, task = _number(row, "category_id", where), _number(row, "task_id", where)
        scenario = scenarios.get(str(category))
        if scenario is None:
            raise ImportFailed(f"{where}: category_id {category} is no safebench scenario")
        records.append(
            ImportedRecord(
                scenario=scenario,
                original_id=f"{category}-{task}",
                question=row["question"],
                figstep_statement=row["instruction"],
                tiny=task in TINY_TASKS,
            )
        )
    templates = read_templates(source.figstep_pro_templates)
    if templates is not None:
        tiny = [r for r in records if r.tiny]
        if len(templates) != len(tiny):
            raise ImportFailed(
                f"{source.figstep_pro_templates}: {len(templates)} templates for "
                f"{len(tiny)} SafeBench-Tiny rows (task_id 1-5 of each category); they pair in order"
            )
        for record, template in zip(tiny, templates, strict=True):
            record.figstep_pro_template = template
            record.key_phrase = key_phrase_of(template, record.figstep_statement)
    return records
