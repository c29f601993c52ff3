"""Key phrase and rephrasings: one validated request per question."""

from __future__ import annotations

from dataclasses import dataclass, field

from generators.llm_cache import ResponseCache
from generators.llm_stage import Progress, ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.twins import TWIN_FIELDS, twin_answer
from generators.validation import EXTRACTION_FIELDS, parse_json_object, validate_extraction
from schemas.prompts import render_prompt
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


def extract_key_phrases(
    provider: LLMProvider,
    cache: ResponseCache,
    questions: list[Question],
    scenarios: dict[str, Scenario],
    run_id: str,
    progress: Progress | None = None,
) -> ExtractionResult:
    """One record per question, accepted or rejected with its reason and the raw answer."""
    requests = [_request(q, scenarios[q.scenario]) for q in questions]

    def validate(request: ChatRequest, result: ChatResult) -> dict[str, str]:
        obj = parse_json_object(result.text, result.finish_reason)
        fields = validate_extraction(obj, scenarios[request.scenario], request.context["question"])
        return fields | twin_answer(obj)

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
    return out
