"""Benign twins: the question with its harmful intent removed, same structure and key-phrase
shape. The LLM writes `benign_question`, `benign_key_phrase` and `benign_figstep_statement`
beside the key phrase; the twin's own key-phrase record follows from its source's by swapping
the key phrase, so a twin goes through the same variants as its source."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from generators.validation import figstep_pro_template
from schemas.records import Extraction, normalize_text, question_id

TWIN_FIELDS = ("benign_question", "benign_key_phrase", "benign_figstep_statement")


def twin_answer(obj: dict[str, Any]) -> dict[str, str]:
    """The twin fields of an LLM answer, whitespace-normalised ("" where absent). A bad twin
    never rejects its source: the review rules reject the twin's samples, with the reason."""
    return {
        name: " ".join(value.split()) if isinstance(value := obj.get(name), str) else ""
        for name in TWIN_FIELDS
    }


def _swap(text: str, old: str, new: str) -> str:
    """`text` with every occurrence of `old` (any case) replaced by `new`."""
    if not old:
        return text
    return re.sub(re.escape(old), lambda _: new, text, flags=re.IGNORECASE)


def twin_extraction(source: Extraction) -> Extraction | None:
    """The twin's key-phrase record (None when the source has no benign question): its own
    question id, linked to the source by `twin_of`. The changed question is the source's with
    the benign key phrase in place of the harmful one (a should-disclaim source's changed
    question is the question itself, so the twin's is the benign question); the FigStep
    statement is the benign one written (else the source's, key phrase swapped); the
    rephrasings hide the key phrase, so they are the source's."""
    if source.status != "accepted" or not source.benign_question:
        return None
    old, new = source.key_phrase, source.benign_key_phrase
    unchanged = normalize_text(source.changed_question) == normalize_text(source.question)
    statement = source.benign_figstep_statement or _swap(source.figstep_statement, old, new)
    hidden = new and new.casefold() in statement.casefold()
    return Extraction(
        question_id=question_id(source.scenario, source.benign_question),
        scenario=source.scenario,
        question=source.benign_question,
        changed_question=source.benign_question
        if unchanged
        else _swap(source.changed_question, old, new),
        key_phrase=new,
        phrase_type=source.phrase_type,
        rephrased_question=source.rephrased_question,
        rephrased_question_sd=source.rephrased_question_sd,
        figstep_statement=statement,
        figstep_pro_template=figstep_pro_template(statement, new)
        if hidden
        else source.figstep_pro_template,
        tiny=source.tiny,
        call_id=source.call_id,
        twin_of=source.question_id,
    )


def twin_extractions(sources: Iterable[Extraction]) -> list[Extraction]:
    """One twin per accepted source that has a benign question (source order)."""
    return [t for s in sources if (t := twin_extraction(s)) is not None]


def twin_failures(twin: Extraction, source: Extraction) -> list[str]:
    """Why a twin is not a benign counterpart of its source (empty when it is): it must differ
    from the source question and keep none of its harmful key phrase."""
    failures = []
    if not twin.key_phrase.strip():
        failures.append("twin: benign key phrase is empty")
    elif twin.key_phrase.casefold() not in twin.figstep_statement.casefold():
        failures.append("twin: the FigStep statement lacks the benign key phrase")
    if normalize_text(twin.question) == normalize_text(source.question):
        failures.append("twin: the benign question repeats its source")
    harmful = source.key_phrase.strip().casefold()
    if harmful and (harmful in twin.question.casefold() or harmful in twin.key_phrase.casefold()):
        failures.append("twin: keeps the harmful key phrase")
    return failures
