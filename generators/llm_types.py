"""The provider interface: what the LLM stages send and what they get back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import Field

from schemas._base import StrictModel
from schemas.records import PromptProvenance


class LLMFatalError(RuntimeError):
    """The endpoint rejected the run itself (bad key, unknown model, bad URL): stop at once."""


class ChatRequest(StrictModel):
    stage: str
    scenario: str
    messages: list[dict[str, Any]]
    # JSON schema of the expected object, used in json_schema structured-output mode.
    response_schema: dict[str, Any] | None = None
    # Structured inputs of the prompt (n, question, avoid, round...). Real endpoints ignore it;
    # the offline provider composes its answer from it instead of parsing prose.
    context: dict[str, Any] = Field(default_factory=dict)
    # Which template made the messages (recorded, not part of the cache key).
    prompt: PromptProvenance
    # Which of several identical asks this is (e.g. two batches of one scenario in one round):
    # part of the cache key, and varies the seed, so they do not share one answer.
    sample: int = Field(default=0, ge=0)


class ChatResult(StrictModel):
    text: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    retries: int = 0


ResultCallback = Callable[[int, ChatResult], None]


class LLMProvider(Protocol):
    name: str
    model: str
    base_url: str | None
    offline: bool

    def params(self) -> dict[str, Any]:
        """Sampling parameters that change the answer (part of the cache key)."""
        ...

    def complete_many(
        self, requests: list[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[ChatResult]:
        """Answer every request (concurrently where the provider can); results in request order.

        `on_result(index, result)` is called as each answer arrives (possibly from a worker
        thread, one call per index), so a killed run keeps what it already got. Content problems
        and exhausted retries come back as ChatResult.error; only errors that make the whole run
        pointless (auth, unknown model) raise LLMFatalError.
        """
        ...


def call_id(provider: LLMProvider, request: ChatRequest) -> str:
    """Cache key: everything that can change the answer, nothing that cannot (no API key)."""
    key = {
        "provider": provider.name,
        "base_url": provider.base_url,
        "model": provider.model,
        "messages": request.messages,
        "schema": request.response_schema,
        "sample": request.sample,
        "params": provider.params(),
        # The offline provider answers from the context, so it is part of its key.
        "context": request.context if provider.offline else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()
