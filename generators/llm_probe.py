"""What an OpenAI-compatible endpoint really supports, asked once per endpoint and model.

A handful of tiny requests before the run: which structured-output form the server accepts
(`json_schema`, else `json_object` carrying the schema, else plain `json_object`, else JSON asked
for in the prompt only), whether it takes `seed` and `max_tokens`, and how many requests it runs
at once (a server that serialises requests must not get 16 queued requests and time-outs). The
result is cached next to the LLM answers, so a re-run asks nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from pydantic import Field

from generators.llm_types import LLMFatalError
from generators.openai_provider import run_sync
from schemas._base import StrictModel
from schemas.config import LLMConfig

StructuredMode = Literal["json_schema", "json_object_schema", "json_object", "prompt"]
# Requests sent at once to measure concurrency; a server running them all counts as "at least".
PARALLEL = 4
# Below this single-request time, timing cannot tell queued from parallel requests (client
# overhead on a loaded machine is tens of milliseconds).
_MEASURABLE_S = 0.1
PROBE_MARKER = "SafetyForge endpoint probe"
_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
_MESSAGES = [
    {"role": "system", "content": f"{PROBE_MARKER}. Reply with JSON only."},
    {"role": "user", "content": 'Reply with exactly this JSON object: {"ok": true}'},
]


class EndpointProbe(StrictModel):
    base_url: str
    model: str
    structured_output: StructuredMode
    seed: bool
    max_tokens: bool
    # Requests the endpoint runs at once, as measured; `concurrency_at_least`: it ran all the
    # PARALLEL probe requests at once (or answered too fast to tell), so no limit is imposed.
    concurrency: int = Field(ge=1)
    concurrency_at_least: bool
    single_latency_s: float  # one short request alone
    requests: int  # probe requests sent
    notes: list[str] = Field(default_factory=list)  # what was refused, and how

    def lines(self) -> list[str]:
        at_once = f"{self.concurrency}{'+' if self.concurrency_at_least else ''}"
        out = [
            f"endpoint {self.base_url} ({self.model}): structured output {self.structured_output}, "
            f"seed {'yes' if self.seed else 'no'}, max_tokens {'yes' if self.max_tokens else 'no'}, "
            f"{at_once} request(s) at once, one request {self.single_latency_s:.2f} s"
        ]
        return out + [f"  {note}" for note in self.notes]


def probe_key(base_url: str, model: str) -> str:
    return hashlib.sha256(json.dumps([base_url, model]).encode()).hexdigest()[:16]


def _response_format(mode: StructuredMode) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "probe", "schema": _SCHEMA, "strict": True},
        }
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": _SCHEMA}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _json_object(text: str | None) -> bool:
    try:
        return isinstance(json.loads((text or "").strip()), dict)
    except json.JSONDecodeError:
        return False


class _Prober:
    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self.client = client
        self.model = model
        self.requests = 0
        self.notes: list[str] = []

    async def send(self, **extra: Any) -> tuple[str | None, float]:
        """(answer text, seconds), or (None, seconds) with a note when the endpoint refused."""
        self.requests += 1
        started = time.perf_counter()
        args = {"model": self.model, "messages": _MESSAGES, "temperature": 0.0, **extra}
        try:
            completion = await self.client.chat.completions.create(**args)
        except openai.AuthenticationError as exc:
            raise LLMFatalError(
                f"probe: the endpoint rejected the API key ({exc.message})"
            ) from None
        except openai.NotFoundError as exc:
            raise LLMFatalError(
                f"probe: unknown model {self.model!r} or wrong base URL ({exc.message})"
            ) from None
        except openai.APIStatusError as exc:
            shown = {k: v for k, v in extra.items() if k != "response_format"}
            if "response_format" in extra:
                shown["response_format"] = extra["response_format"]["type"]
            self.notes.append(f"{shown or 'plain request'}: HTTP {exc.status_code}")
            return None, time.perf_counter() - started
        except openai.APIConnectionError as exc:
            raise LLMFatalError(
                f"probe: cannot reach the endpoint ({type(exc).__name__}: {exc})"
            ) from None
        text = completion.choices[0].message.content if completion.choices else None
        return text, time.perf_counter() - started


async def _probe(client: AsyncOpenAI, base_url: str, model: str) -> EndpointProbe:
    prober = _Prober(client, model)
    text, _ = await prober.send(seed=1, max_tokens=16)
    seed = max_tokens = text is not None
    if text is None:
        seed = (await prober.send(seed=1))[0] is not None
        max_tokens = (await prober.send(max_tokens=16))[0] is not None
    limits: dict[str, Any] = {"max_tokens": 16} if max_tokens else {}
    mode: StructuredMode = "prompt"
    for candidate in ("json_schema", "json_object_schema", "json_object"):
        answer, _ = await prober.send(response_format=_response_format(candidate), **limits)
        if answer is not None and _json_object(answer):
            mode = candidate
            break
        if answer is not None:
            prober.notes.append(f"response_format {candidate}: answer is not a JSON object")
    fmt = _response_format(mode)
    extra = {**limits, **({"response_format": fmt} if fmt else {})}
    # Requests alone (warm: the mode's grammar is compiled), then PARALLEL sent together. A
    # server running k at once answers them in PARALLEL/k rounds of one request's time, so the
    # spread between the first and the last answer tells k; the first answer's own time does not
    # (it can carry queueing or connection costs that the others do not).
    # The faster of two alone: a busy machine slows one request now and then, never speeds one.
    single = min([(await prober.send(**extra))[1] for _ in range(2)])
    started = time.perf_counter()

    async def timed() -> float:
        await prober.send(**extra)
        return time.perf_counter() - started

    done = sorted(await asyncio.gather(*(timed() for _ in range(PARALLEL))))
    concurrency, at_least = estimate_concurrency(single, done[-1] - done[0], PARALLEL)
    return EndpointProbe(
        base_url=base_url,
        model=model,
        structured_output=mode,
        seed=seed,
        max_tokens=max_tokens,
        concurrency=concurrency,
        concurrency_at_least=at_least,
        single_latency_s=round(single, 3),
        requests=prober.requests,
        notes=prober.notes,
    )


def estimate_concurrency(single_s: float, spread_s: float, sent: int) -> tuple[int, bool]:
    """(requests at once, whether that is only a lower bound) from one request's time alone and
    the spread between the first and last answer of `sent` requests sent together: k at once
    answer in sent/k rounds, so the spread is about (sent/k - 1) request times."""
    if single_s < _MEASURABLE_S or spread_s < 0.5 * single_s:  # jitter, not rounds
        return sent, True
    return max(1, min(sent - 1, round(sent / (spread_s / single_s + 1)))), False


def probe_endpoint(llm: LLMConfig, base_url: str, cache_dir: Path) -> EndpointProbe:
    """The cached probe of (base_url, model), or a fresh one (saved before returning)."""
    path = cache_dir / f"{probe_key(base_url, llm.model)}.json"
    if path.exists():
        return EndpointProbe.model_validate_json(path.read_text())
    key = os.environ.get(llm.api_key_env, "")

    async def run() -> EndpointProbe:
        async with AsyncOpenAI(
            api_key=key, base_url=base_url, max_retries=0, timeout=llm.timeout_s
        ) as client:
            return await _probe(client, base_url, llm.model)

    found = run_sync(run())
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(found.model_dump_json(indent=2))
    return found


def apply_probe(llm: LLMConfig, found: EndpointProbe) -> LLMConfig:
    """`llm` with what the endpoint cannot take switched off: `auto` structured output resolved,
    seed and max_tokens dropped where refused, concurrency capped at what really runs at once."""
    update: dict[str, Any] = {}
    if llm.structured_output == "auto":
        update["structured_output"] = found.structured_output
    if not found.seed:
        update["seed"] = None
    if not found.max_tokens:
        update["max_tokens"] = None
    if not found.concurrency_at_least:
        update["max_concurrency"] = min(llm.max_concurrency, found.concurrency)
    return llm.model_copy(update=update)
