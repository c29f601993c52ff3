"""Text leakage per variant and benign-twin counts per scenario, from a run's samples and
review decisions (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from catalog.outcomes import latest_decisions
from generators.leakage import WARNING
from schemas.quality import LeakageRow, TwinRow
from schemas.records import ReviewDecision, Sample


def leakage_rows(
    samples: Sequence[Sample], reviews: Sequence[ReviewDecision], variants: Sequence[str]
) -> list[LeakageRow]:
    """One row per variant the judge read (in `variants` order)."""
    decisions = latest_decisions(reviews)
    judged: Counter[str] = Counter()
    leaked: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for s in samples:
        if s.text_leak is None:
            continue
        judged[s.variant] += 1
        leaked[s.variant] += s.text_leak
        reason = decisions[s.sample_id].reason if s.sample_id in decisions else None
        rejected[s.variant] += s.status == "rejected" and f"{WARNING}:" in (reason or "")
    order = [v for v in variants if judged[v]] + sorted(set(judged) - set(variants))
    return [
        LeakageRow(variant=v, judged=judged[v], leaked=leaked[v], rejected=rejected[v])
        for v in order
    ]


def twin_rows(
    samples: Sequence[Sample], published: Sequence[Sample], scenarios: Mapping[str, str]
) -> list[TwinRow]:
    """One row per scenario with published questions (in `scenarios` order)."""
    questions = {(s.scenario, s.question_id) for s in published if s.twin_of is None}
    twinned = {(s.scenario, s.twin_of) for s in published if s.twin_of is not None}
    states = Counter((s.scenario, s.status) for s in samples if s.twin_of is not None)
    rows = []
    for slug in scenarios:
        n = sum(sc == slug for sc, _ in questions)
        if n:
            rows.append(
                TwinRow(
                    scenario=slug,
                    questions=n,
                    twinned=sum(sc == slug for sc, _ in twinned),
                    samples_accepted=states[(slug, "accepted")],
                    samples_rejected=states[(slug, "rejected")],
                )
            )
    return rows
