"""Any OpenAI-compatible chat endpoint through the official async client.

Requests run concurrently (bounded by `max_concurrency`, paced by `requests_per_minute`). The
client's own retries are off: we retry only what can heal (429 honouring Retry-After, 408/409,
5xx, timeouts, dropped connections) with exponential backoff and jitter, and stop the run at once
on errors that no retry fixes (bad key, unknown model, malformed request).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import openai
from openai import AsyncOpenAI

from generators.llm_types import ChatRequest, ChatResult, LLMFatalError, ResultCallback
from generators.rate_limit import Backoff, RateLimiter, Sleep, parse_retry_after
from schemas.config import LLMConfig
from schemas.records import TRANSIENT_PREFIX

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRYABLE_STATUS = frozenset({408, 409, 429})
# 400s that concern one request's content, not the run's configuration.
_PER_REQUEST_CODES = frozenset(
    {
        "context_length_exceeded",
        "content_filter",
        "content_policy_violation",
        "string_above_max_length",
    }
)


def resolved_base_url(llm: LLMConfig) -> str:
    return (llm.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


class OpenAIProvider:
    """Implements generators.llm_types.LLMProvider for OpenAI and OpenAI-compatible servers."""

    name = "openai"
    offline = False

    def __init__(
        self, llm: LLMConfig, *, backoff: Backoff | None = None, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.llm = llm
        self.model = llm.model
        # Resolved here so the cache key names the real endpoint, whichever way it was given.
        self.base_url = resolved_base_url(llm)
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        # Fail before any work; the key itself is read again when needed and never kept.
        self._api_key()

    def _api_key(self) -> str:
        key = os.environ.get(self.llm.api_key_env, "")
        if not key:
            raise LLMFatalError(
                f"llm.provider is 'openai' but the environment variable {self.llm.api_key_env} "
                f"(named by llm.api_key_env) is not set: export the API key for {self.base_url} "
                "there (for a local server that needs no key, any non-empty value will do)"
            )
        return key

    def params(self) -> dict[str, Any]:
        return {
            "temperature": self.llm.temperature,
            "seed": self.llm.seed,
            "max_tokens": self.llm.max_tokens,
            # Unprobed `auto` sends plain JSON mode: keyed as such, so caches stay valid.
            "structured_output": "json_object"
            if self.llm.structured_output == "auto"
            else self.llm.structured_output,
        }

    def complete_many(
        self, requests: list[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[ChatResult]:
        if not requests:
            return []
        return run_sync(self._complete_all(requests, on_result))

    async def _complete_all(
        self, requests: list[ChatRequest], on_result: ResultCallback | None
    ) -> list[ChatResult]:
        limiter = RateLimiter(self.llm.requests_per_minute, sleep=self._sleep)
        slots = asyncio.Semaphore(self.llm.max_concurrency)
        rng = random.Random()
        results: list[ChatResult | None] = [None] * len(requests)
        # Set on the first fatal error: a request that gets a slot afterwards is not sent.
        stopped = asyncio.Event()

        async def one(client: AsyncOpenAI, index: int) -> None:
            async with slots:
                if stopped.is_set():
                    return
                try:
                    result = await self._complete(client, limiter, rng, requests[index])
                except LLMFatalError:
                    stopped.set()
                    raise
            results[index] = result
            if on_result is not None:
                # It writes the cache: file I/O, kept off the loop that drives the requests.
                await asyncio.to_thread(on_result, index, result)

        async with AsyncOpenAI(
            api_key=self._api_key(),
            base_url=self.base_url,
            max_retries=0,
            timeout=self.llm.timeout_s,
        ) as client:
            try:
                async with asyncio.TaskGroup() as group:
                    for index in range(len(requests)):
                        group.create_task(one(client, index))
            except ExceptionGroup as group_error:
                # One fatal error cancels the rest; surface it, not the group around it.
                fatal = group_error.subgroup(LLMFatalError)
                first = (fatal or group_error).exceptions[0]
                raise first from None
        return [r for r in results if r is not None]

    async def _complete(
        self, client: AsyncOpenAI, limiter: RateLimiter, rng: random.Random, request: ChatRequest
    ) -> ChatResult:
        kwargs = self._create_args(request)
        retries = 0
        while True:
            await limiter.acquire()
            started = time.perf_counter()
            retry_after: float | None = None
            refused = False
            try:
                completion = await client.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if not _retryable(exc):
                    if _per_request(exc):
                        return ChatResult(error=_describe(exc), retries=retries)
                    raise LLMFatalError(self._fatal_message(exc)) from None
                problem = _describe(exc)
                retry_after = parse_retry_after(exc.response.headers)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                problem = f"{type(exc).__name__}: {exc}"
                # By name: the client's HTTP library is not always the `httpx` we import.
                refused = type(exc.__cause__).__name__ == "ConnectError"
            else:
                return _to_result(completion, time.perf_counter() - started, retries)
            if retries >= self.llm.max_retries and refused:
                # Nobody listens any more (the server stopped): every other request would fail
                # the same way, so stop the run; what was answered is cached.
                raise LLMFatalError(
                    f"endpoint {self.base_url} stopped answering (connection refused after "
                    f"{retries} retries): is the server still running? Start it again "
                    "(e.g. `safetyforge llm serve`) and re-run"
                )
            if retries >= self.llm.max_retries:
                return ChatResult(
                    error=f"{TRANSIENT_PREFIX} {retries} retries: {problem}", retries=retries
                )
            delay = self.backoff.delay(retries, rng, retry_after)
            if retry_after is not None:
                limiter.hold(delay)
            retries += 1
            await self._sleep(delay)

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": self.llm.temperature,
        }
        if self.llm.seed is not None:
            # Distinct seeds for identical asks: a seeded endpoint would repeat itself otherwise.
            args["seed"] = self.llm.seed + request.sample
        if self.llm.max_tokens is not None:
            args["max_tokens"] = self.llm.max_tokens
        # A request without a schema (a model under evaluation) wants prose: no JSON mode.
        if request.response_schema is not None:
            response_format = _response_format(
                self.llm.structured_output, request.stage, request.response_schema
            )
            if response_format is not None:
                args["response_format"] = response_format
        return args

    def _fatal_message(self, exc: openai.APIStatusError) -> str:
        where = f"endpoint {self.base_url} with model {self.model!r}"
        status = exc.status_code
        if status == 401:
            hint = f"the API key in ${self.llm.api_key_env} was rejected"
        elif status == 403:
            hint = "this key has no access to the model"
        elif status == 404:
            hint = "unknown model or wrong base URL (llm.model, llm.base_url)"
        elif self.llm.structured_output == "json_schema" and "response_format" in str(exc):
            hint = "the endpoint may not support json_schema: try llm.structured_output=auto"
        else:
            hint = "the endpoint rejected the request; check the llm section of the config"
        detail = _describe(exc)
        key = os.environ.get(self.llm.api_key_env, "")
        if key:  # some servers echo the key they rejected; never let it reach a log
            detail = detail.replace(key, "***")
        return f"{where}: {hint} ({detail})"


def _response_format(mode: str, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The response_format of a structured-output mode (`auto` not probed: plain JSON mode)."""
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
    if mode == "json_object_schema":  # llama.cpp's server: JSON mode constrained by the schema
        return {"type": "json_object", "schema": schema}
    if mode == "prompt":  # the endpoint takes no response_format: the prompt asks for JSON
        return None
    return {"type": "json_object"}


def _retryable(exc: openai.APIStatusError) -> bool:
    return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500


def _per_request(exc: openai.APIStatusError) -> bool:
    return exc.status_code == 413 or (exc.status_code == 400 and exc.code in _PER_REQUEST_CODES)


def _describe(exc: openai.APIStatusError) -> str:
    return f"HTTP {exc.status_code}: {exc.message}"


def _to_result(completion: Any, latency_s: float, retries: int) -> ChatResult:
    usage = completion.usage
    tokens = {
        "tokens_in": usage.prompt_tokens if usage else 0,
        "tokens_out": usage.completion_tokens if usage else 0,
        "latency_s": latency_s,
        "retries": retries,
    }
    if not completion.choices:
        return ChatResult(error="the endpoint answered with no choices", **tokens)
    choice = completion.choices[0]
    message = choice.message
    if not message.content and getattr(message, "refusal", None):
        # Structured-output refusals come in their own field; validation rejects them by name.
        return ChatResult(text=message.refusal, finish_reason="refusal", **tokens)
    return ChatResult(text=message.content, finish_reason=choice.finish_reason, **tokens)


T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code, whether or not this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from async code (an async task, a notebook): that loop is busy, use our own thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
