"""Key phrase and rephrasings: one validated request per question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from generators.grounding import stems
from generators.llm_cache import ResponseCache
from generators.llm_stage import Progress, ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import EXTRACTION_FIELDS, parse_json_object, validate_extraction
from schemas.prompts import render_prompt
from schemas.records import Extraction, LLMCall, Question, Scenario

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in EXTRACTION_FIELDS},
    "required": list(EXTRACTION_FIELDS),
    "additionalProperties": False,
}


@dataclass
class ExtractionResult:
    extractions: list[Extraction] = field(default_factory=list)  # accepted and rejected
    calls: list[LLMCall] = field(default_factory=list)


def _request(question: Question, scenario: Scenario) -> ChatRequest:
    rendered = render_prompt("extraction", scenario, question=question.text)
    return ChatRequest(
        stage="extraction",
        scenario=scenario.slug,
        messages=rendered.messages,
        response_schema=EXTRACTION_SCHEMA,
        context={"scenario": scenario.slug, "kind": scenario.kind, "question": question.text},
        prompt=rendered.provenance,
    )


def repeated_key_phrases(
    extractions: Sequence[Extraction], earlier: Sequence[Extraction] = ()
) -> dict[str, str]:
    """question id -> the id of an earlier question of its scenario whose accepted key phrase
    has the same content-word stems (two questions about one thing would show one image)."""
    seen: dict[tuple[str, frozenset[str]], str] = {}
    for e in earlier:
        if e.status == "accepted":
            seen.setdefault((e.scenario, stems(e.key_phrase)), e.question_id)
    repeats = {}
    for e in extractions:
        if e.status != "accepted":
            continue
        key = (e.scenario, stems(e.key_phrase))
        if key in seen:
            repeats[e.question_id] = seen[key]
        else:
            seen[key] = e.question_id
    return repeats


def extract_key_phrases(
    provider: LLMProvider,
    cache: ResponseCache,
    questions: list[Question],
    scenarios: dict[str, Scenario],
    run_id: str,
    progress: Progress | None = None,
    earlier: Sequence[Extraction] = (),
) -> ExtractionResult:
    """One record per question, accepted or rejected with its reason and the raw answer. A key
    phrase repeating one of its scenario (this run's or an `earlier` record's) is rejected as a
    near-duplicate naming the other question."""
    requests = [_request(q, scenarios[q.scenario]) for q in questions]

    def validate(request: ChatRequest, result: ChatResult) -> dict[str, str]:
        obj = parse_json_object(result.text, result.finish_reason)
        return validate_extraction(obj, scenarios[request.scenario], request.context["question"])

    out = ExtractionResult()
    outcomes = ask_validated(provider, cache, requests, validate, run_id, progress)
    for question, outcome in zip(questions, outcomes, strict=True):
        out.calls.extend(outcome.calls)
        base = {
            "question_id": question.question_id,
            "scenario": question.scenario,
            "question": question.text,
            "raw_text": outcome.raw_text,
            "call_id": outcome.calls[-1].call_id,
        }
        if outcome.value is None:
            out.extractions.append(
                Extraction(**base, status="rejected", reject_reason=outcome.reason)
            )
        else:
            out.extractions.append(Extraction(**base, **outcome.value))
    repeats = repeated_key_phrases(out.extractions, earlier)
    for e in out.extractions:
        if e.question_id in repeats:
            e.status = "rejected"
            e.reject_reason = (
                f"duplicate_key_phrase: key phrase {e.key_phrase!r} repeats that of question "
                f"{repeats[e.question_id]}"
            )
    return out
