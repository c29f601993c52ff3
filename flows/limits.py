"""Global concurrency limits shared by every run that talks to one Prefect server.

Two limits, created (or updated) by the flow at its start when a Prefect server is configured
(PREFECT_API_URL set, e.g. deployments run by `safetyforge deploy serve` or a worker):
- `safetyforge-llm-rpm`: a rate limit (slots decay at rpm/60 per second) that every remote LLM
  request draws one slot from, so scheduled and manual runs together stay under the endpoint's
  requests per minute;
- `safetyforge-sd-gpu`: one slot per GPU (`runner.gpus`); an SD chunk holds a slot while it runs.
Without a server (the CLI's ephemeral API lives and dies with one run) there is nobody to share
with: the LLM provider's own limiter paces requests and SD runs one chunk at a time per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.settings import PREFECT_API_URL

from generators.llm_types import ChatRequest, ChatResult, LLMProvider, ResultCallback
from schemas.config import BuildConfig, LLMConfig

LLM_LIMIT = "safetyforge-llm-rpm"
GPU_LIMIT = "safetyforge-sd-gpu"


def server_configured() -> bool:
    return bool(PREFECT_API_URL.value())


def llm_rate_limited(llm: LLMConfig) -> bool:
    """Only a remote endpoint with a known budget is worth a global limit."""
    return llm.provider != "offline" and llm.requests_per_minute is not None


def ensure_limits(config: BuildConfig) -> list[str]:
    """Create or update the project's limits on the configured server; returns their names
    ([] without a server)."""
    if not server_configured():
        return []
    names = [GPU_LIMIT]
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(GPU_LIMIT, config.runner.gpus)
        rpm = config.llm.requests_per_minute
        if llm_rate_limited(config.llm) and rpm is not None:
            client.upsert_global_concurrency_limit_by_name(
                LLM_LIMIT, rpm, slot_decay_per_second=rpm / 60.0
            )
            names.append(LLM_LIMIT)
    return names


@contextmanager
def gpu_slot(limit: str | None) -> Iterator[None]:
    """Hold one GPU slot of `limit` for the block; no-op when `limit` is None."""
    if limit is None:
        yield
        return
    with concurrency(limit, occupy=1):
        yield


@dataclass
class GloballyPacedProvider:
    """An LLMProvider that draws one slot of a Prefect rate limit per request before handing
    requests on, in batches, to the wrapped provider (which still paces them itself)."""

    inner: LLMProvider
    limit: str
    batch: int

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def base_url(self) -> str | None:
        return self.inner.base_url

    @property
    def offline(self) -> bool:
        return self.inner.offline

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def complete_many(
        self, requests: list[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[ChatResult]:
        results: list[ChatResult] = []
        for start in range(0, len(requests), self.batch):
            part = requests[start : start + self.batch]
            rate_limit(self.limit, occupy=len(part))
            shifted = _shift(on_result, start)
            results.extend(self.inner.complete_many(part, shifted))
        return results


def _shift(on_result: ResultCallback | None, offset: int) -> ResultCallback | None:
    if on_result is None:
        return None
    return lambda index, result: on_result(offset + index, result)


def paced(provider: LLMProvider, llm: LLMConfig) -> LLMProvider:
    """The provider behind the global LLM rate limit when a server holds one, else as is."""
    if not (server_configured() and llm_rate_limited(llm) and llm.requests_per_minute):
        return provider
    # A batch never asks for more slots than the limit has, nor waits on more than the
    # provider would run at once anyway.
    batch = min(llm.max_concurrency, llm.requests_per_minute)
    return GloballyPacedProvider(provider, LLM_LIMIT, batch)
