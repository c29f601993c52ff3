"""Pacing of LLM requests: a requests-per-minute limiter and the retry backoff policy."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (no bursts); None means no limit.

    A 429 holds every request, not only the one that got it: the limit belongs to the key.
    Reservation does not await, so it needs no lock inside one event loop.
    """

    def __init__(
        self,
        requests_per_minute: int | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf

    def reserve(self) -> float:
        """Claim the next start slot; returns how many seconds to wait for it."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self.interval_s
        return slot - now

    def hold(self, seconds: float) -> None:
        """No request starts before `seconds` from now (a server asked us to wait)."""
        self._next = max(self._next, self._clock() + seconds)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; a server's Retry-After wins when it gives one."""

    base_s: float = 1.0
    max_s: float = 60.0
    # Honour Retry-After up to this long; beyond it the server is down rather than busy.
    max_retry_after_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        ceiling = min(self.max_s, self.base_s * 2**attempt)
        # "Equal jitter": never zero, yet concurrent retries spread over half the window.
        return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms`, or `retry-after` as seconds or a date.

    `headers` must look keys up case-insensitively (httpx headers do) or use lower-case keys.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when the zone is missing
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
