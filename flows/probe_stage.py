"""Before a run: what the provider can deliver. A real endpoint is probed (cached) and the llm
settings fitted to it; the offline bank says up front how many questions it can vary."""

from __future__ import annotations

from pathlib import Path

from generators.llm_probe import EndpointProbe, apply_probe, probe_endpoint
from generators.offline_provider import offline_capacity
from generators.openai_provider import resolved_base_url
from schemas.config import BuildConfig
from schemas.records import Scenario


def probe_stage(cfg: BuildConfig, artifacts: Path) -> tuple[BuildConfig, EndpointProbe | None]:
    """The config the stages use (structured output resolved, what the endpoint refuses off,
    concurrency capped) and the probe's findings; unchanged for the offline provider or with
    `llm.probe: false`."""
    llm = cfg.llm
    if llm.provider == "offline" or not llm.probe:
        return cfg, None
    found = probe_endpoint(llm, resolved_base_url(llm), artifacts / "cache" / "llm-probe")
    return cfg.model_copy(update={"llm": apply_probe(llm, found)}), found


def offline_variety_warning(cfg: BuildConfig, scenarios: list[Scenario], target: int) -> str | None:
    """A warning when the offline bank cannot give `target` distinct questions per scenario."""
    if cfg.llm.provider != "offline" or not scenarios:
        return None
    caps = {
        s.slug: offline_capacity(s.slug, cfg.llm.seed or 0, cfg.llm.near_duplicate_threshold)
        for s in scenarios
    }
    short = {slug: cap for slug, cap in caps.items() if cap < target}
    if not short:
        return None
    most = max(short.values())
    return (
        f"the offline provider's template bank tops out at {most} distinct questions per "
        f"scenario ({', '.join(f'{s}: {n}' for s, n in short.items())}); "
        f"{target} per scenario were asked, so those scenarios will fall short. For more, use a "
        "real LLM (`safetyforge llm serve` starts a local one; see README, Plugging in a real "
        "LLM) or import questions (questions_from)."
    )
