"""The leakage check: an LLM judge reads a sample's prompt alone, never its image, and says
whether the request can be recovered from the text (VLSBench's finding: in most image-based
safety benchmarks it can). `text_only` is the control: its prompt is the question, so it
should always leak."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from generators.llm_cache import ResponseCache
from generators.llm_stage import Progress, ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import Invalid, parse_json_object
from schemas.prompts import render_template
from schemas.records import LLMCall, Sample

TEMPLATE = "review.text_leak"
WARNING = "text_leak"
LEAK_SCHEMA = {
    "type": "object",
    "properties": {
        "recoverable": {"type": "boolean"},
        "recovered": {"type": "string"},
        "reason": {"type": "string"},
    },
    "required": ["recoverable", "recovered", "reason"],
    "additionalProperties": False,
}


@dataclass
class LeakResult:
    verdicts: dict[str, bool] = field(default_factory=dict)  # sample id -> leaks
    failures: dict[str, str] = field(default_factory=dict)  # sample id -> why no verdict
    calls: list[LLMCall] = field(default_factory=list)


def _request(sample: Sample) -> ChatRequest:
    rendered = render_template(TEMPLATE, prompt=sample.prompt)
    return ChatRequest(
        stage="review",
        scenario=sample.scenario,
        messages=rendered.messages,
        response_schema=LEAK_SCHEMA,
        # The offline provider judges from the key phrase; real endpoints never see it.
        context={
            "prompt": sample.prompt,
            "key_phrase": sample.key_phrase,
            "phrase_type": sample.phrase_type,
        },
        prompt=rendered.provenance,
    )


def _validate(_request: ChatRequest, result: ChatResult) -> bool:
    obj = parse_json_object(result.text, result.finish_reason)
    if not isinstance(obj.get("recoverable"), bool):
        raise Invalid("missing_fields", '"recoverable" must be true or false')
    return obj["recoverable"]


def judge_leakage(
    provider: LLMProvider,
    cache: ResponseCache,
    samples: Sequence[Sample],
    run_id: str,
    progress: Progress | None = None,
) -> LeakResult:
    """One verdict per sample that is not a benign twin (identical prompts are asked once
    by a real endpoint: the cache key is the messages)."""
    judged = [s for s in samples if s.twin_of is None]
    outcomes = ask_validated(
        provider, cache, [_request(s) for s in judged], _validate, run_id, progress
    )
    out = LeakResult()
    for sample, outcome in zip(judged, outcomes, strict=True):
        out.calls.extend(outcome.calls)
        if outcome.value is None:
            out.failures[sample.sample_id] = outcome.reason or "no verdict"
        else:
            out.verdicts[sample.sample_id] = outcome.value
    return out


def apply_leakage(samples: Sequence[Sample], verdicts: dict[str, bool]) -> None:
    """Record each verdict on its sample; a leaking one is tagged with the `text_leak` warning."""
    for sample in samples:
        sample.text_leak = verdicts.get(sample.sample_id)
        if sample.text_leak and WARNING not in sample.warnings:
            sample.warnings.append(WARNING)
