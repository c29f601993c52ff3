"""Rules an imported record is checked against. A record that breaks one is kept as published
and flagged: each broken rule becomes a warning "<code>: <detail>" on its key-phrase record,
in the catalog and in the release's `warnings` column. The codes are stable: review rules
(annotation/rules.py) skip a rule a record is already flagged for.

The same rules check what an LLM fills in for an imported record (`fill.py`): there a broken
rule that involves a filled field is the LLM's error (repaired once, then reported), while one
among the file's own fields alone is the record's flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from generators.grounding import (
    leftover_template_words,
    question_problem,
    stems,
    template_example,
    ungrounded,
)
from generators.importers.base import ImportedRecord
from generators.rephrase import STATEMENT_PREFIXES
from schemas.records import Scenario, normalize_text

Fields = Mapping[str, str]
LEFTOVER_CHECKED = (
    "changed_question",
    "phrase_type",
    "rephrased_question",
    "rephrased_question_sd",
    "figstep_statement",
)


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _verbatim(where: str, field: str) -> Callable[[Fields, Scenario], str | None]:
    def check(fields: Fields, _: Scenario) -> str | None:
        key, text = fields["key_phrase"], fields[field]
        if key in text:
            return None
        case = " (it occurs in another letter case)" if key.casefold() in text.casefold() else ""
        return f"key phrase {_quoted(key)} is not verbatim in the {where}{case}"

    return check


def _no_leak(field: str) -> Callable[[Fields, Scenario], str | None]:
    def check(fields: Fields, _: Scenario) -> str | None:
        if fields["key_phrase"].casefold() not in fields[field].casefold():
            return None
        return f"{field} contains the key phrase {_quoted(fields['key_phrase'])}"

    return check


def _phrase_type(fields: Fields, scenario: Scenario) -> str | None:
    if scenario.kind != "harmful" or fields["phrase_type"] in scenario.phrase_types:
        return None
    allowed = ", ".join(scenario.phrase_types)
    return f"phrase type {_quoted(fields['phrase_type'])} is not one of {allowed}"


def _statement_prefix(fields: Fields, _: Scenario) -> str | None:
    statement = fields["figstep_statement"]
    if statement.startswith(STATEMENT_PREFIXES) and statement.endswith("."):
        return None
    return f'statement {_quoted(statement)} does not start "Steps to", "Methods to" or "List of" and end with "."'


def _grounding(
    rule: Callable[..., str | None], *names: str
) -> Callable[[Fields, Scenario], str | None]:
    """A source-grounding rule (generators/grounding.py) over the named fields; its own code
    prefix is dropped (the Rule carries the code)."""

    def check(fields: Fields, _: Scenario) -> str | None:
        problem = rule(*(fields[n] for n in names))
        return None if problem is None else problem.split(": ", 1)[1]

    return check


def _leftover(field: str) -> Callable[[Fields, Scenario], str | None]:
    def check(fields: Fields, _: Scenario) -> str | None:
        problem = leftover_template_words(field, fields[field])
        return None if problem is None else problem.split(": ", 1)[1]

    return check


@dataclass(frozen=True)
class Rule:
    code: str
    # The fields it reads; it applies when every one of them has a value.
    fields: tuple[str, ...]
    check: Callable[[Fields, Scenario], str | None]  # the detail when broken, else None


RULES = (
    Rule(
        "key_phrase_absent",
        ("key_phrase", "changed_question"),
        _verbatim("changed question", "changed_question"),
    ),
    Rule("leak", ("key_phrase", "rephrased_question"), _no_leak("rephrased_question")),
    Rule("leak", ("key_phrase", "rephrased_question_sd"), _no_leak("rephrased_question_sd")),
    Rule("phrase_type", ("phrase_type",), _phrase_type),
    Rule("statement_prefix", ("figstep_statement",), _statement_prefix),
    Rule(
        "statement_key_phrase",
        ("key_phrase", "figstep_statement"),
        _verbatim("FigStep statement", "figstep_statement"),
    ),
    # Source grounding: the same rules as for generated records.
    Rule(
        "ungrounded", ("key_phrase", "question"), _grounding(ungrounded, "key_phrase", "question")
    ),
    Rule("template_example", ("key_phrase",), _grounding(template_example, "key_phrase")),
    *(Rule("template_words", (f,), _leftover(f)) for f in LEFTOVER_CHECKED),
)


def broken_rules(fields: Fields, scenario: Scenario) -> list[tuple[Rule, str]]:
    """Every rule that applies to `fields` and is broken, with its detail."""
    broken = []
    for rule in RULES:
        if all(fields.get(name) for name in rule.fields):
            detail = rule.check(fields, scenario)
            if detail is not None:
                broken.append((rule, detail))
    return broken


def record_warnings(record: ImportedRecord, scenario: Scenario) -> list[str]:
    """The flags of one record as its file has it: the field rules, the source-grounding rules
    and whether its question is a usable one (generators/grounding.py)."""
    fields = {**record.fields(), "question": record.question}
    flags = [f"{rule.code}: {detail}" for rule, detail in broken_rules(fields, scenario)]
    problem = question_problem(record.question)
    return flags if problem is None else [*flags, problem]


def key_phrase_repeats(records: Iterable[ImportedRecord]) -> dict[str, str]:
    """original id -> flag, for each record whose key phrase repeats (by stems) an earlier
    record's of the same scenario, as for generated records (generators/extraction.py)."""
    first: dict[tuple[str, frozenset[str]], str] = {}
    flags = {}
    for record in records:
        if not record.key_phrase:
            continue
        key = (record.scenario, stems(record.key_phrase))
        if key in first:
            flags[record.original_id] = (
                f"duplicate_key_phrase: key phrase {_quoted(record.key_phrase)} repeats that of "
                f"{first[key]}"
            )
        else:
            first[key] = record.original_id
    return flags


def duplicate_warnings(records: Iterable[ImportedRecord]) -> dict[str, str]:
    """original id -> flag, for each record whose question repeats an earlier record's
    (normalised text, any scenario: review keeps one question per text and variant)."""
    first: dict[str, str] = {}
    flags = {}
    for record in records:
        key = normalize_text(record.question)
        if key in first:
            flags[record.original_id] = f"duplicate: same question as {first[key]}"
        else:
            first[key] = record.original_id
    return flags
