"""A short, bounded check that an OpenAI-compatible endpoint answers at all, so a build against
a server that is down stops at once naming the URL instead of retrying every request."""

from __future__ import annotations

import httpx

PROBE_TIMEOUT_S = 5.0


def unreachable(base_url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why nothing answers at `base_url` (connection refused, timeout, bad host), or None. Any
    HTTP answer counts as reachable: a 401 or 404 is the run's own, clearer error."""
    try:
        httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout_s)
    except httpx.TransportError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None
