"""Ask a provider through the cache, validate every answer, repair once, keep everything."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from generators.llm_cache import ResponseCache
from generators.llm_types import ChatRequest, ChatResult, LLMProvider, call_id
from generators.validation import Invalid, reason_code
from schemas._base import StrictModel
from schemas.prompts import render_template
from schemas.records import LLMCall

T = TypeVar("T")
# Told how many more requests have their answer (for progress bars).
Progress = Callable[[int], None]


@dataclass
class Outcome(Generic[T]):
    """The validated value of one request, or why there is none; every call made on the way."""

    request: ChatRequest
    value: T | None = None
    reason: str | None = None
    raw_text: str | None = None
    calls: list[LLMCall] = field(default_factory=list)
    answered: bool = False  # the first endpoint gave an answer (not an error)
    valid_first: bool = False  # that answer passed validation without a repair turn
    refused: bool = False  # the first endpoint refused (its answer or its repair)
    by_fallback: str | None = None  # the fallback model whose answer was kept


class StageYield(StrictModel):
    """How many requests of a stage got how far (the summary's and the card's yield table)."""

    asked: int = 0
    answered: int = 0
    valid_first_try: int = 0
    valid_after_repair: int = 0  # repair turn, per-field fallback or fallback endpoint included
    accepted: int = 0  # records the stage kept (questions: items after dedup; key phrases)
    refused: int = 0
    rescued_by_fallback: int = 0

    def add(self, other: StageYield) -> StageYield:
        return StageYield(
            **{k: getattr(self, k) + getattr(other, k) for k in type(self).model_fields}
        )


def count_yield(outcomes: Sequence[Outcome[Any]], accepted: int) -> StageYield:
    return StageYield(
        asked=len(outcomes),
        answered=sum(o.answered for o in outcomes),
        valid_first_try=sum(o.valid_first for o in outcomes),
        valid_after_repair=sum(o.value is not None for o in outcomes),
        accepted=accepted,
        refused=sum(o.refused for o in outcomes),
        rescued_by_fallback=sum(o.by_fallback is not None for o in outcomes),
    )


def refusal_counts(outcomes: Sequence[Outcome[Any]]) -> dict[str, tuple[int, int]]:
    """scenario -> (requests the first endpoint refused, requests asked)."""
    counts: dict[str, tuple[int, int]] = {}
    for o in outcomes:
        refused, asked = counts.get(o.request.scenario, (0, 0))
        counts[o.request.scenario] = (refused + o.refused, asked + 1)
    return counts


def _record(
    provider: LLMProvider,
    request: ChatRequest,
    result: ChatResult,
    key: str,
    cached: bool,
    run_id: str,
) -> LLMCall:
    return LLMCall(
        call_id=key,
        run_id=run_id,
        stage=request.stage,  # type: ignore[arg-type]
        scenario=request.scenario,
        provider=provider.name,
        model=provider.model,
        base_url=provider.base_url,
        offline=provider.offline,
        prompt=request.prompt,
        request={"messages": request.messages, "params": provider.params()},
        response_text=result.text,
        finish_reason=result.finish_reason,
        error=result.error,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
        latency_s=result.latency_s,
        retries=result.retries,
        cached=cached,
    )


def ask(
    provider: LLMProvider,
    cache: ResponseCache,
    requests: list[ChatRequest],
    run_id: str,
    progress: Progress | None = None,
) -> list[tuple[ChatResult, LLMCall]]:
    """Answers in request order; only requests missing from the cache reach the provider.

    Each answer is cached the moment it arrives, so a killed run loses at most the requests in
    flight. Identical requests in one batch are asked once; the repeats count as cache hits.
    `progress(n)` is told as answers become available (cache hits at once, the rest on arrival).
    """
    keys = [call_id(provider, r) for r in requests]
    first_index: dict[str, int] = {}
    for i, key in enumerate(keys):
        first_index.setdefault(key, i)
    results: dict[str, ChatResult] = {}
    for key in first_index:
        hit = cache.get(key)
        if hit is not None:
            results[key] = hit
    todo = [key for key in first_index if key not in results]
    if progress is not None:
        progress(len(requests) - len(todo))

    def arrived(position: int, result: ChatResult) -> None:
        cache.put(todo[position], result)
        if progress is not None:
            progress(1)

    if todo:
        fresh = provider.complete_many([requests[first_index[k]] for k in todo], arrived)
        results.update(zip(todo, fresh, strict=True))
    asked = {first_index[key] for key in todo}
    return [
        (results[key], _record(provider, request, results[key], key, i not in asked, run_id))
        for i, (request, key) in enumerate(zip(requests, keys, strict=True))
    ]


def failed_fields(error: str, fields: Sequence[str]) -> list[str]:
    """The fields of `fields` that a validation error names, in the error's order."""
    found = [(m.start(), f) for f in fields if (m := re.search(rf"\b{re.escape(f)}\b", error))]
    return [f for _, f in sorted(found)]


def repair_request(
    request: ChatRequest, answer: str | None, error: str, fields: Sequence[str] = ()
) -> ChatRequest:
    """The original conversation plus the bad answer and one turn naming the failed field(s)
    and why."""
    named = failed_fields(error, fields)
    turn = render_template("repair", error=error, fields=named)
    return ChatRequest(
        stage="repair",
        scenario=request.scenario,
        messages=[
            *request.messages,
            {"role": "assistant", "content": answer or ""},
            *turn.messages,
        ],
        response_schema=request.response_schema,
        sample=request.sample,
        context={
            "repair_of": {**request.context, "stage": request.stage},
            "error": error,
            "fields": named,
        },
        prompt=turn.provenance,
    )


def ask_validated(
    provider: LLMProvider,
    cache: ResponseCache,
    requests: list[ChatRequest],
    validate: Callable[[ChatRequest, ChatResult], T],
    run_id: str,
    progress: Progress | None = None,
    fields: Sequence[str] = (),
    fallbacks: Sequence[LLMProvider] = (),
) -> list[Outcome[T]]:
    """Validate each answer; a failing answer gets one repair turn naming the failed field(s)
    (of `fields`), then is kept as a rejection. Requests the endpoint refused go to `fallbacks`
    in turn; a rescued outcome keeps every call, the refused ones included.

    `progress` counts first answers (one per request); repair turns are not counted."""
    outcomes = _ask_and_repair(provider, cache, requests, validate, run_id, progress, fields)
    for outcome in outcomes:
        outcome.refused = outcome.value is None and reason_code(outcome.reason or "") == "refusal"
    for fallback in fallbacks:
        refused = [i for i, o in enumerate(outcomes) if o.value is None and o.refused]
        if not refused:
            break
        retried = _ask_and_repair(
            fallback, cache, [requests[i] for i in refused], validate, run_id, None, fields
        )
        for i, again in zip(refused, retried, strict=True):
            outcome = outcomes[i]
            outcome.calls.extend(again.calls)
            if again.value is not None:
                outcome.value, outcome.reason = again.value, None
                outcome.raw_text, outcome.by_fallback = again.raw_text, fallback.model
    return outcomes


def _ask_and_repair(
    provider: LLMProvider,
    cache: ResponseCache,
    requests: list[ChatRequest],
    validate: Callable[[ChatRequest, ChatResult], T],
    run_id: str,
    progress: Progress | None,
    fields: Sequence[str],
) -> list[Outcome[T]]:
    outcomes = [Outcome[T](request=r) for r in requests]
    repairs: list[tuple[int, ChatRequest]] = []
    for i, (result, record) in enumerate(ask(provider, cache, requests, run_id, progress)):
        outcome = outcomes[i]
        outcome.calls.append(record)
        outcome.raw_text = result.text
        if result.error is not None:
            outcome.reason = f"llm_error: {result.error}"
            continue
        outcome.answered = True
        try:
            outcome.value = validate(requests[i], result)
            outcome.valid_first = True
        except Invalid as exc:
            repairs.append((i, repair_request(requests[i], result.text, str(exc), fields)))
    answers = ask(provider, cache, [r for _, r in repairs], run_id) if repairs else []
    for (i, _), (result, record) in zip(repairs, answers, strict=True):
        outcome = outcomes[i]
        outcome.calls.append(record)
        outcome.raw_text = result.text if result.text is not None else outcome.raw_text
        if result.error is not None:
            outcome.reason = f"llm_error: on repair: {result.error}"
            continue
        try:
            outcome.value = validate(requests[i], result)
        except Invalid as exc:
            outcome.reason = str(exc)
    return outcomes
