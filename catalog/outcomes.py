"""Acceptance and rejection counts by stage and reason, for the dataset card and its chart.

Pure functions over records: the flow passes them in, or `Catalog.run_records` reads them back.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from schemas._base import StrictModel
from schemas.records import Extraction, Question, ReviewDecision, Sample

Stage = Literal["question", "key phrase", "sample"]


class OutcomeCount(StrictModel):
    stage: Stage
    outcome: Literal["accepted", "rejected"]
    reason: str  # "" for accepted rows
    count: int


def reason_category(reason: str | None) -> str:
    """The general reason without per-record detail ("duplicate question of sample ab12" ->
    "duplicate question"), so counts group."""
    if not reason:
        return "unspecified"
    head = re.split(r":| of | \(", reason, maxsplit=1)[0]
    return head.strip() or "unspecified"


def _split_reasons(reason: str | None) -> list[str]:
    return [reason_category(part) for part in (reason or "").split(";")] or ["unspecified"]


def latest_decisions(reviews: Sequence[ReviewDecision]) -> dict[str, ReviewDecision]:
    """The decision that stands for each sample: the most recent one."""
    latest: dict[str, ReviewDecision] = {}
    for review in sorted(reviews, key=lambda r: r.decided_at):
        latest[review.sample_id] = review
    return latest


def review_outcomes(
    questions: Sequence[Question],
    extractions: Sequence[Extraction],
    samples: Sequence[Sample],
    reviews: Sequence[ReviewDecision],
) -> list[OutcomeCount]:
    """Accepted count per stage, then rejected counts per stage and reason (most frequent first).

    A sample rejected for several reasons counts once under each of them.
    """
    accepted: Counter[Stage] = Counter()
    rejected: Counter[tuple[Stage, str]] = Counter()
    for question in questions:
        if question.status == "accepted":
            accepted["question"] += 1
        else:
            rejected[("question", reason_category(question.reject_reason))] += 1
    for extraction in extractions:
        if extraction.status == "accepted":
            accepted["key phrase"] += 1
        else:
            rejected[("key phrase", reason_category(extraction.reject_reason))] += 1
    decisions = latest_decisions(reviews)
    for sample in samples:
        if sample.status == "accepted":
            accepted["sample"] += 1
        elif sample.status == "rejected":
            decision = decisions.get(sample.sample_id)
            for reason in _split_reasons(decision.reason if decision else None):
                rejected[("sample", reason)] += 1
    stages: tuple[Stage, ...] = ("question", "key phrase", "sample")
    rows = [
        OutcomeCount(stage=stage, outcome="accepted", reason="", count=accepted[stage])
        for stage in stages
    ]
    rows += [
        OutcomeCount(stage=stage, outcome="rejected", reason=reason, count=n)
        for (stage, reason), n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return rows
