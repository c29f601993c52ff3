"""Key phrase and rephrasings: one validated request per question."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generators.grounding import stems
from generators.llm_cache import ResponseCache
from generators.llm_stage import (
    Outcome,
    Progress,
    StageYield,
    ask,
    ask_validated,
    count_yield,
    refusal_counts,
)
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.twins import TWIN_FIELDS, twin_answer
from generators.validation import (
    EXTRACTION_FIELDS,
    REQUIRED_FIELDS,
    Invalid,
    parse_json_object,
    reason_code,
    validate_extraction,
)
from schemas.prompts import render_prompt, render_template
from schemas.records import Extraction, LLMCall, Question, Scenario

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": "string"} for name in EXTRACTION_FIELDS + TWIN_FIELDS},
    "required": list(EXTRACTION_FIELDS + TWIN_FIELDS),
    "additionalProperties": False,
}


@dataclass
class ExtractionResult:
    extractions: list[Extraction] = field(default_factory=list)  # accepted and rejected
    calls: list[LLMCall] = field(default_factory=list)
    yields: StageYield = field(default_factory=StageYield)
    refusals: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # scenario -> (refused, asked)


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
    fallbacks: Sequence[LLMProvider] = (),
) -> ExtractionResult:
    """One record per question, accepted or rejected with its reason and the raw answer. A key
    phrase repeating one of its scenario (this run's or an `earlier` record's) is rejected as a
    near-duplicate naming the other question."""
    requests = [_request(q, scenarios[q.scenario]) for q in questions]

    def validate(request: ChatRequest, result: ChatResult) -> dict[str, str]:
        obj = parse_json_object(result.text, result.finish_reason)
        fields = validate_extraction(obj, scenarios[request.scenario], request.context["question"])
        return fields | twin_answer(obj)

    out = ExtractionResult()
    outcomes = ask_validated(
        provider,
        cache,
        requests,
        validate,
        run_id,
        progress,
        fields=EXTRACTION_FIELDS,
        fallbacks=fallbacks,
    )
    fill_missing_fields(provider, cache, outcomes, validate, run_id)
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
    out.yields = count_yield(outcomes, sum(e.status == "accepted" for e in out.extractions))
    out.refusals = refusal_counts(outcomes)
    return out


def _field_request(request: ChatRequest, answer: str | None, name: str) -> ChatRequest:
    turn = render_template("field", field=name)
    return ChatRequest(
        stage="repair",
        scenario=request.scenario,
        messages=[
            *request.messages,
            {"role": "assistant", "content": answer or ""},
            *turn.messages,
        ],
        response_schema={
            "type": "object",
            "properties": {name: {"type": "string"}},
            "required": [name],
            "additionalProperties": False,
        },
        sample=request.sample,
        context={"repair_of": {**request.context, "stage": request.stage}, "field": name},
        prompt=turn.provenance,
    )


def _partial(text: str | None) -> dict[str, Any] | None:
    try:
        return parse_json_object(text, None)
    except Invalid:
        return None


def fill_missing_fields(
    provider: LLMProvider,
    cache: ResponseCache,
    outcomes: Sequence[Outcome[dict[str, str]]],
    validate: Callable[[ChatRequest, ChatResult], dict[str, str]],
    run_id: str,
) -> None:
    """Per-field fallback: an answer still missing fields after its repair turn gets one request
    per missing field; the fields are merged into it and the whole is validated again."""
    pending: list[tuple[Outcome[dict[str, str]], dict[str, Any], list[ChatRequest]]] = []
    for outcome in outcomes:
        if outcome.value is not None or reason_code(outcome.reason or "") != "missing_fields":
            continue
        partial = _partial(outcome.raw_text)
        if partial is None:
            continue
        missing = [f for f in REQUIRED_FIELDS if not str(partial.get(f) or "").strip()]
        asks = [_field_request(outcome.request, outcome.raw_text, f) for f in missing]
        pending.append((outcome, partial, asks))
    flat = [r for _, _, asks in pending for r in asks]
    answers = iter(ask(provider, cache, flat, run_id) if flat else [])
    for outcome, partial, asks in pending:
        merged = dict(partial)
        for request in asks:
            result, record = next(answers)
            outcome.calls.append(record)
            name = request.context["field"]
            value = (_partial(result.text) or {}).get(name)
            if isinstance(value, str) and value.strip():
                merged[name] = value
        text = json.dumps(merged, ensure_ascii=False)
        try:
            outcome.value = validate(outcome.request, ChatResult(text=text, finish_reason="stop"))
            outcome.reason, outcome.raw_text = None, text
        except Invalid as exc:
            outcome.reason = str(exc)
