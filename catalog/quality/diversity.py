"""Diversity of a release per scenario: distinct-n, self-similarity, and rejected duplicates.

Self-similarity is the mean nearest-neighbour Jaccard similarity of content words within a
scenario: the same measure and words as the near-duplicate rule of the question stage, so 0.85
(the default rule threshold) reads as "this is what the rule would reject". It is cheap (one
sparse-ish matrix product per scenario) and says what a mean pairwise score hides: whether
questions come in close pairs. Distinct-n (Li et al., 2016) counts surface repetition instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from catalog.quality.similarity import nearest
from schemas.quality import DiversityRow, QuestionText
from schemas.records import Question, normalize_text
from schemas.words import content_words, words


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over `texts` (1.0 when there is none)."""
    grams = [tuple(ws[i : i + n]) for ws in map(words, texts) for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def self_similarity(texts: Sequence[str]) -> float | None:
    """Mean over texts of the best Jaccard similarity with another text (None below two)."""
    if len(texts) < 2:
        return None
    sets = [content_words(t) for t in texts]
    return sum(best for best, _ in nearest(sets, sets, same=True)) / len(sets)


def _duplicates(candidates: Sequence[Question]) -> dict[str, tuple[int, int]]:
    """(exact, near) duplicates rejected per scenario; a reason `duplicate of <id>` is exact when
    the texts are equal after normalisation."""
    text_of = {q.question_id: q.text for q in candidates}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for q in candidates:
        reason = q.reject_reason or ""
        if q.status != "rejected" or not reason.startswith("duplicate of "):
            continue
        original = text_of.get(reason.removeprefix("duplicate of ").strip())
        exact = original is not None and normalize_text(original) == normalize_text(q.text)
        counts[q.scenario][0 if exact else 1] += 1
    return {s: (e, n) for s, (e, n) in counts.items()}


def diversity(
    release: str,
    version: str,
    questions: Sequence[QuestionText],
    candidates: Sequence[Question],
) -> list[DiversityRow]:
    """One row per scenario of `questions` (the release's, one per question id), in scenario
    order of first appearance. `candidates`: every question the run's generator proposed."""
    by_scenario: dict[str, list[str]] = defaultdict(list)
    for q in questions:
        by_scenario[q.scenario].append(q.text)
    proposed: dict[str, int] = defaultdict(int)
    for q in candidates:
        proposed[q.scenario] += 1
    repeats = _duplicates(candidates)
    rows = []
    for scenario, texts in by_scenario.items():
        exact, near = repeats.get(scenario, (0, 0))
        total = max(proposed[scenario], len(texts))
        rows.append(
            DiversityRow(
                release=release,
                version=version,
                scenario=scenario,
                questions=len(texts),
                distinct_1=distinct_n(texts, 1),
                distinct_2=distinct_n(texts, 2),
                self_similarity=self_similarity(texts),
                candidates=total,
                exact_duplicates=exact,
                near_duplicates=near,
                duplicate_share=(exact + near) / total,
            )
        )
    return rows
