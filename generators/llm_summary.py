"""What the LLM stages cost and rejected in one run, for the end-of-run report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from generators.llm_probe import EndpointProbe
from generators.llm_stage import StageYield
from generators.validation import reason_code
from schemas._base import StrictModel
from schemas.records import LLMCall


class LLMSummary(StrictModel):
    requests: int = 0  # calls that reached the endpoint (retries not counted)
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0  # calls that ended without an answer (retries exhausted, refused request)
    tokens_in: int = 0  # of the requests made: cached answers cost nothing
    tokens_out: int = 0
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    # "<stage>: <reason code>" -> count, most frequent first
    rejects: dict[str, int] = Field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"LLM: {self.requests} requests, {self.cache_hits} cache hits, {self.retries} retries, "
            f"{self.errors} errors; tokens {self.tokens_in} in / {self.tokens_out} out; "
            f"latency p50 {self.latency_p50_s:.2f} s, p95 {self.latency_p95_s:.2f} s"
        ]
        out += [f"  rejected {n:>5}  {reason}" for reason, n in self.rejects.items()]
        return out


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarize_llm(
    calls: Iterable[LLMCall], rejects: Mapping[str, Iterable[str | None]] | None = None
) -> LLMSummary:
    """Summarise call records; `rejects` maps a stage label ("questions") to its reject reasons."""
    calls = list(calls)
    made = [c for c in calls if not c.cached]
    latencies = sorted(c.latency_s for c in made if c.error is None)
    reasons: Counter[str] = Counter()
    for stage, stage_reasons in (rejects or {}).items():
        reasons.update(f"{stage}: {reason_code(r or '')}" for r in stage_reasons)
    return LLMSummary(
        requests=len(made),
        cache_hits=len(calls) - len(made),
        retries=sum(c.retries for c in made),
        errors=sum(c.error is not None for c in made),
        tokens_in=sum(c.tokens_in for c in made),
        tokens_out=sum(c.tokens_out for c in made),
        latency_p50_s=_quantile(latencies, 0.5),
        latency_p95_s=_quantile(latencies, 0.95),
        rejects=dict(reasons.most_common()),
    )


def llm_yield_section(
    yields: Mapping[str, StageYield],
    refusals: Iterable[Mapping[str, tuple[int, int]]],
    probe: EndpointProbe | None,
) -> dict[str, Any]:
    """The run summary's LLM part: how far each stage's requests got (`yields`, by stage label),
    the refusal rate per scenario (over every stage's requests) and the endpoint probe."""
    per_scenario: dict[str, tuple[int, int]] = {}
    for counts in refusals:
        for scenario, (refused, asked) in counts.items():
            before = per_scenario.get(scenario, (0, 0))
            per_scenario[scenario] = (before[0] + refused, before[1] + asked)
    return {
        "llm_yield": {stage: y.model_dump() for stage, y in yields.items()},
        "refusals": {
            scenario: {"refused": r, "asked": n, "rate": round(r / n, 3) if n else 0.0}
            for scenario, (r, n) in per_scenario.items()
        },
        "llm_probe": None if probe is None else probe.model_dump(mode="json"),
    }


def yield_lines(summary: Mapping[str, Any]) -> list[str]:
    """The yield table and refusal rates of a run summary, as printed after a build."""
    out: list[str] = []
    if summary.get("llm_probe"):
        out += EndpointProbe.model_validate(summary["llm_probe"]).lines()[:1]
    stages = summary.get("llm_yield") or {}
    if any(y["asked"] for y in stages.values()):
        out.append(
            "LLM yield per stage: asked / answered / valid first try / valid after repair / accepted"
        )
        for stage, y in stages.items():
            out.append(
                f"  {stage:<12} {y['asked']:>5} / {y['answered']:>5} / {y['valid_first_try']:>5} / "
                f"{y['valid_after_repair']:>5} / {y['accepted']:>5}"
                + (
                    f"  ({y['rescued_by_fallback']} by fallback)"
                    if y["rescued_by_fallback"]
                    else ""
                )
            )
    refused = {s: r for s, r in (summary.get("refusals") or {}).items() if r["refused"]}
    if refused:
        out.append("Refusals (requests the model declined):")
        out += [f"  {s}: {r['refused']}/{r['asked']} ({r['rate']:.0%})" for s, r in refused.items()]
    return out
