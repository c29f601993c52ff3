"""Before a run against a real endpoint: probe it (cached) and fit the llm settings to it."""

from __future__ import annotations

from pathlib import Path

from generators.llm_probe import EndpointProbe, apply_probe, probe_endpoint
from generators.openai_provider import resolved_base_url
from schemas.config import BuildConfig


def probe_stage(cfg: BuildConfig, artifacts: Path) -> tuple[BuildConfig, EndpointProbe | None]:
    """The config the stages use (structured output resolved, what the endpoint refuses off,
    concurrency capped) and the probe's findings; unchanged for the offline provider or with
    `llm.probe: false`."""
    llm = cfg.llm
    if llm.provider == "offline" or not llm.probe:
        return cfg, None
    found = probe_endpoint(llm, resolved_base_url(llm), artifacts / "cache" / "llm-probe")
    return cfg.model_copy(update={"llm": apply_probe(llm, found)}), found
