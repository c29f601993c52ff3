"""Measured quality of a release: diversity per scenario and overlap with other question sets.

Stored in the catalog (tables `diversity` and `overlap`) and reported in the dataset card.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas._base import StrictModel
from schemas.records import utcnow


class QuestionText(StrictModel):
    """One question of a release or a reference benchmark (the unit diversity is measured on)."""

    question_id: str
    scenario: str
    text: str


class DiversityRow(StrictModel):
    """One scenario of a release.

    distinct_n: unique word n-grams / all word n-grams over the scenario's questions (1.0: no
    n-gram repeats). self_similarity: the mean, over questions, of the Jaccard similarity of its
    content words with its most similar other question in the scenario (0: no shared topic word;
    1: a duplicate; the near-duplicate rule rejects at `llm.near_duplicate_threshold`); None with
    fewer than two questions. candidates: questions the generator proposed for the scenario;
    exact/near_duplicates: those rejected as repeats; duplicate_share: their share of candidates.
    """

    release: str
    version: str
    scenario: str
    questions: int
    distinct_1: float
    distinct_2: float
    self_similarity: float | None
    candidates: int
    exact_duplicates: int
    near_duplicates: int
    duplicate_share: float
    measured_at: datetime = Field(default_factory=utcnow)


class OverlapRow(StrictModel):
    """How many of a release's questions in one scenario also occur in another question set
    (`against`: an earlier version `NAME@X.Y.Z`, or a reference `mm-safetybench:FOLDER`).

    exact: the same text after normalisation; near: not exact, content-word Jaccard similarity
    at or above `threshold`; mean_best_similarity: mean over questions of the best similarity
    with any question of `against`.
    """

    release: str
    version: str
    against: str
    scenario: str
    questions: int
    exact: int
    near: int
    mean_best_similarity: float
    threshold: float
    measured_at: datetime = Field(default_factory=utcnow)


class LeakageRow(StrictModel):
    """The leakage judge on one variant of a build run (every sample it read, published or
    not): `leaked` prompts reveal the request without the image; `rejected` of them were
    rejected for it (review.reject_text_leak)."""

    variant: str
    judged: int
    leaked: int
    rejected: int


class TwinRow(StrictModel):
    """Benign twins of one scenario: questions (harmful, published), those with a twin
    published in `contrast`, and the twins' samples accepted and rejected."""

    scenario: str
    questions: int
    twinned: int
    samples_accepted: int
    samples_rejected: int


class QualityReport(StrictModel):
    """What the card reports about a release's quality (rows for one release version)."""

    diversity: list[DiversityRow]
    overlap: list[OverlapRow] = Field(default_factory=list)
    leakage: list[LeakageRow] = Field(default_factory=list)
    twins: list[TwinRow] = Field(default_factory=list)
    threshold: (
        float  # the near-duplicate rule's similarity threshold (llm.near_duplicate_threshold)
    )
