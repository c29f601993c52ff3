"""Ask a provider through the cache, validate every answer, repair once, keep everything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from generators.llm_cache import ResponseCache
from generators.llm_types import ChatRequest, ChatResult, LLMProvider, call_id
from generators.validation import Invalid
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


def repair_request(request: ChatRequest, answer: str | None, error: str) -> ChatRequest:
    """The original conversation plus the bad answer and one turn naming what was wrong."""
    turn = render_template("repair", error=error)
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
        context={"repair_of": {**request.context, "stage": request.stage}, "error": error},
        prompt=turn.provenance,
    )


def ask_validated(
    provider: LLMProvider,
    cache: ResponseCache,
    requests: list[ChatRequest],
    validate: Callable[[ChatRequest, ChatResult], T],
    run_id: str,
    progress: Progress | None = None,
) -> list[Outcome[T]]:
    """Validate each answer; a failing answer gets one repair turn, then is kept as a rejection.

    `progress` counts first answers (one per request); repair turns are not counted."""
    outcomes = [Outcome[T](request=r) for r in requests]
    repairs: list[tuple[int, ChatRequest]] = []
    for i, (result, record) in enumerate(ask(provider, cache, requests, run_id, progress)):
        outcome = outcomes[i]
        outcome.calls.append(record)
        outcome.raw_text = result.text
        if result.error is not None:
            outcome.reason = f"llm_error: {result.error}"
            continue
        try:
            outcome.value = validate(requests[i], result)
        except Invalid as exc:
            repairs.append((i, repair_request(requests[i], result.text, str(exc))))
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
