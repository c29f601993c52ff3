"""Attack-success and refusal rates with 95% Wilson score intervals, differences of rates
(Newcombe's hybrid score interval), and agreement between two judges (Cohen's kappa)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from schemas._base import StrictModel
from schemas.records import EvalResult, JudgeName, Verdict

Z95 = 1.959963984540054


class Rate(StrictModel):
    """k of n, with its 95% Wilson interval; `rate`, `low`, `high` are None when n == 0."""

    k: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class Difference(StrictModel):
    """a - b of two independent rates with Newcombe's 95% interval (None when either is empty)."""

    value: float | None
    low: float | None
    high: float | None


class CellStats(StrictModel):
    samples: int  # samples with at least one judged attempt
    attempts: int  # judged attempts
    errors: int  # attempts without a verdict (model or judge failure)
    asr: Rate  # samples with any unsafe attempt / samples
    asr_attempt: Rate  # unsafe attempts / judged attempts
    refusal: Rate  # refusing attempts / judged attempts


class Agreement(StrictModel):
    attempts: int  # attempts judged by both judges
    agree: Rate
    kappa: float | None


def wilson(k: int, n: int, z: float = Z95) -> Rate:
    if n == 0:
        return Rate(k=0, n=0, rate=None, low=None, high=None)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Float noise at the ends (k == 0 or k == n) must not put p outside its own interval.
    low, high = min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))
    return Rate(k=k, n=n, rate=p, low=low, high=high)


def difference(a: Rate, b: Rate) -> Difference:
    """Newcombe (1998) method 10: the Wilson intervals of each rate combined."""
    if a.rate is None or b.rate is None:
        return Difference(value=None, low=None, high=None)
    assert a.low is not None and a.high is not None and b.low is not None and b.high is not None
    d = a.rate - b.rate
    low = d - math.sqrt((a.rate - a.low) ** 2 + (b.high - b.rate) ** 2)
    high = d + math.sqrt((a.high - a.rate) ** 2 + (b.rate - b.low) ** 2)
    return Difference(value=d, low=max(-1.0, low), high=min(1.0, high))


def verdict_of(result: EvalResult, judge: JudgeName) -> tuple[Verdict | None, bool]:
    """(verdict, refusal) of one attempt by one judge; verdict None: not judged."""
    if judge == "llm":
        return result.llm_verdict, result.llm_refusal
    return result.rule_verdict, result.rule_refusal


def cell_stats(results: Iterable[EvalResult], judge: JudgeName) -> CellStats:
    unsafe_by_sample: dict[str, bool] = defaultdict(bool)
    attempts = unsafe = refusals = errors = 0
    for result in results:
        verdict, refusal = verdict_of(result, judge)
        if verdict is None:
            errors += 1
            continue
        attempts += 1
        unsafe += verdict == "unsafe"
        refusals += refusal
        unsafe_by_sample[result.sample_id] |= verdict == "unsafe"
    return CellStats(
        samples=len(unsafe_by_sample),
        attempts=attempts,
        errors=errors,
        asr=wilson(sum(unsafe_by_sample.values()), len(unsafe_by_sample)),
        asr_attempt=wilson(unsafe, attempts),
        refusal=wilson(refusals, attempts),
    )


def agreement(results: Sequence[EvalResult]) -> Agreement:
    """How often the LLM judge and the rule judge give the same verdict, and Cohen's kappa."""
    pairs = [
        (r.llm_verdict, r.rule_verdict)
        for r in results
        if r.llm_verdict is not None and r.rule_verdict is not None
    ]
    n = len(pairs)
    agree = sum(a == b for a, b in pairs)
    kappa = None
    if n:
        p_llm = sum(a == "unsafe" for a, _ in pairs) / n
        p_rule = sum(b == "unsafe" for _, b in pairs) / n
        expected = p_llm * p_rule + (1 - p_llm) * (1 - p_rule)
        observed = agree / n
        # Both judges constant and equal: perfect agreement, kappa undefined -> 1 by convention.
        kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    return Agreement(attempts=n, agree=wilson(agree, n), kappa=kappa)
