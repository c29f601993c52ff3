"""Read an import: the file's records for the selected scenarios as questions and key-phrase
records, each flagged with the rules it breaks (the LLM fill of missing fields is `fill.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from generators.importers.base import ImportedRecord, get_importer
from generators.importers.checks import (
    duplicate_warnings,
    key_phrase_repeats,
    record_warnings,
)
from schemas.config import QuestionsFromConfig
from schemas.records import Extraction, Question, Scenario, Taxonomy, stable_id


def imported_question_id(scenario: str, original_id: str) -> str:
    """Stable across releases of the same source: a corrected text keeps its question id."""
    return stable_id("question", scenario, "imported", original_id)


@dataclass
class ImportResult:
    questions: list[Question] = field(default_factory=list)  # kept, and surplus (rejected)
    extractions: list[Extraction] = field(default_factory=list)  # one per kept question
    read: int = 0  # records in the file
    not_selected: int = 0  # records of scenarios the build does not select


def _records(record: ImportedRecord, warnings: list[str]) -> tuple[Question, Extraction]:
    qid = imported_question_id(record.scenario, record.original_id)
    question = Question(
        question_id=qid,
        scenario=record.scenario,
        text=record.question,
        call_id="",
        original_id=record.original_id,
    )
    extraction = Extraction(
        question_id=qid,
        scenario=record.scenario,
        question=record.question,
        warnings=warnings,
        original_id=record.original_id,
        tiny=record.tiny,
        raw_text=record.raw_text,
        **record.fields(),
    )
    return question, extraction


def read_import(
    source: QuestionsFromConfig, taxonomy: Taxonomy, scenarios: Iterable[Scenario]
) -> ImportResult:
    """The file's records for the selected scenarios as questions and key-phrase records, each
    flagged with the rules it breaks; records over `max_per_scenario` as rejected questions.
    No LLM call. Raises ImportFailed (a ConfigError) on a file its format cannot read."""
    chosen = {s.slug: s for s in scenarios}
    records = get_importer(source, taxonomy.name).read(source, taxonomy)
    out = ImportResult(read=len(records))
    kept: list[ImportedRecord] = []
    per_scenario: dict[str, int] = {}
    for record in records:
        if record.scenario not in chosen:
            out.not_selected += 1
            continue
        per_scenario[record.scenario] = per_scenario.get(record.scenario, 0) + 1
        if (
            source.max_per_scenario is not None
            and per_scenario[record.scenario] > source.max_per_scenario
        ):
            question, _ = _records(record, [])
            question.status = "rejected"
            question.reject_reason = (
                f"surplus: over questions_from.max_per_scenario ({source.max_per_scenario})"
            )
            out.questions.append(question)
            continue
        kept.append(record)
    duplicates = duplicate_warnings(kept)
    repeats = key_phrase_repeats(kept)
    for record in kept:
        warnings = record_warnings(record, chosen[record.scenario])
        # A repeated question repeats its key phrase too: one flag says it.
        if record.original_id in duplicates:
            warnings.append(duplicates[record.original_id])
        elif record.original_id in repeats:
            warnings.append(repeats[record.original_id])
        question, extraction = _records(record, warnings)
        out.questions.append(question)
        out.extractions.append(extraction)
    return out
