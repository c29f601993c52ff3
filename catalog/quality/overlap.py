"""Overlap of a release's questions with another question set (an earlier version of the same
release, or a reference benchmark), per scenario of the release."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from catalog.quality.similarity import nearest
from schemas._base import StrictModel
from schemas.quality import OverlapRow, QuestionText
from schemas.records import normalize_text
from schemas.words import content_words


class Match(StrictModel):
    """A release question and the most similar question of the other set."""

    question: QuestionText
    match: QuestionText
    similarity: float
    exact: bool


def best_matches(
    questions: Sequence[QuestionText], other: Sequence[QuestionText]
) -> list[Match | None]:
    """For each question, its most similar question in `other` (None when `other` is empty)."""
    exact_index = {normalize_text(q.text): q for q in other}
    found = nearest(
        [content_words(q.text) for q in questions], [content_words(q.text) for q in other]
    )
    out: list[Match | None] = []
    for question, (similarity, index) in zip(questions, found, strict=True):
        twin = exact_index.get(normalize_text(question.text))
        if twin is not None:
            out.append(Match(question=question, match=twin, similarity=1.0, exact=True))
        elif index >= 0:
            out.append(
                Match(question=question, match=other[index], similarity=similarity, exact=False)
            )
        else:
            out.append(None)
    return out


def overlap(
    release: str,
    version: str,
    against: str,
    matches: Sequence[Match | None],
    questions: Sequence[QuestionText],
    threshold: float,
) -> list[OverlapRow]:
    """One row per scenario of `questions` (and their `matches`, from `best_matches`)."""
    cells: dict[str, list[Match | None]] = defaultdict(list)
    for question, match in zip(questions, matches, strict=True):
        cells[question.scenario].append(match)
    return [
        OverlapRow(
            release=release,
            version=version,
            against=against,
            scenario=scenario,
            questions=len(found),
            exact=sum(1 for m in found if m is not None and m.exact),
            near=sum(
                1 for m in found if m is not None and not m.exact and m.similarity >= threshold
            ),
            mean_best_similarity=sum(m.similarity for m in found if m is not None) / len(found),
            threshold=threshold,
        )
        for scenario, found in cells.items()
    ]
