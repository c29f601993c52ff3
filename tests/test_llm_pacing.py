"""Request pacing and retry policy: pure functions, driven by an explicit clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from generators.llm_summary import summarize_llm
from generators.rate_limit import Backoff, RateLimiter, parse_retry_after
from generators.validation import reason_code
from schemas.records import LLMCall, PromptProvenance


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limiter_spaces_request_starts_by_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(120, clock=clock)  # one start every 0.5 s
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.5, 1.0, 1.5]
    clock.now += 10  # idle time is not banked as a burst
    assert [limiter.reserve() for _ in range(2)] == [0.0, 0.5]


def test_unlimited_limiter_never_waits_but_honours_a_hold() -> None:
    clock = Clock()
    limiter = RateLimiter(None, clock=clock)
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    limiter.hold(7.0)  # a 429 with Retry-After: 7 stops every request, not just one
    assert limiter.reserve() == 7.0
    clock.now += 8
    assert limiter.reserve() == 0.0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base_s=1.0, max_s=8.0)
    rng = random.Random(0)
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        delays = {backoff.delay(attempt, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered: concurrent retries do not stampede together


def test_retry_after_wins_over_backoff_and_is_bounded() -> None:
    backoff = Backoff(base_s=1.0, max_s=8.0, max_retry_after_s=60.0)
    rng = random.Random(0)
    assert backoff.delay(0, rng, retry_after=20.0) == 20.0
    assert backoff.delay(5, rng, retry_after=0.0) == 0.0
    assert backoff.delay(0, rng, retry_after=3600.0) == 60.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 30.0
    assert parse_retry_after({"retry-after": format_datetime(now, usegmt=True)}, now=now) == 0.0


def _call(**fields: object) -> LLMCall:
    base: dict[str, object] = {
        "call_id": "c",
        "stage": "extraction",
        "scenario": "fraud",
        "provider": "openai",
        "model": "m",
        "offline": False,
        "prompt": PromptProvenance(template="t", template_version="1", prompt_sha256="x"),
        "request": {},
    }
    return LLMCall.model_validate({**base, **fields})


def test_run_summary_counts_requests_hits_retries_tokens_and_rejects() -> None:
    calls = [
        _call(tokens_in=100, tokens_out=20, retries=2, latency_s=0.2),
        _call(tokens_in=50, tokens_out=10, latency_s=0.4),
        _call(error="gave up after 5 retries: HTTP 500", retries=5),
        _call(tokens_in=999, tokens_out=999, cached=True),
    ]
    summary = summarize_llm(
        calls,
        {
            "questions": ["duplicate of abc", "duplicate of def", "refusal: the item is a refusal"],
            "key phrases": ["leak: rephrased_question leaks 'x'", "llm_error: gave up"],
        },
    )
    assert (summary.requests, summary.cache_hits, summary.retries, summary.errors) == (3, 1, 7, 1)
    assert (summary.tokens_in, summary.tokens_out) == (150, 30)
    assert summary.latency_p50_s == 0.4
    assert summary.rejects == {
        "questions: duplicate": 2,
        "questions: refusal": 1,
        "key phrases: leak": 1,
        "key phrases: llm_error": 1,
    }
    assert summary.lines()[0].startswith("LLM: 3 requests, 1 cache hits, 7 retries, 1 errors")


def test_reason_codes_are_the_leading_word() -> None:
    assert reason_code("leak: rephrased_question leaks 'x'") == "leak"
    assert reason_code("duplicate of 1234") == "duplicate"
    assert reason_code("") == "unknown"
