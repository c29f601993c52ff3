"""Where a run of a growing benchmark (config `grow`) starts: what its release line holds.

A release line is the runs that publish under one release name in one catalog. Each run of a
growing benchmark continues from the newest completed one: it keeps that run's questions and
their key-phrase records as they are (with the key phrases annotators corrected), so their ids
and content stay stable, and asks only for new questions on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog import Catalog
from generators.questions import EarlierQuestions
from schemas.config import BuildConfig
from schemas.records import Extraction, Question, Scenario

# The run summary key under which a run records where the next growth continues.
GENERATION_KEY = "generation"


@dataclass
class LineStart:
    previous_run: str | None = None
    previous_summary: dict[str, Any] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)  # kept: accepted, taxonomy questions
    extractions: list[Extraction] = field(default_factory=list)  # their key-phrase records
    earlier: EarlierQuestions | None = None

    @property
    def first(self) -> bool:
        """True when no earlier run exists: the run builds the initial question set."""
        return self.previous_run is None


def line_start(catalog: Catalog, config: BuildConfig, scenarios: list[Scenario]) -> LineStart:
    """The previous run's kept records (empty for a config without `grow` or a new line)."""
    if config.grow is None:
        return LineStart()
    previous = catalog.latest_completed_run(config.release.name)
    if previous is None:
        return LineStart()
    slugs = {s.slug for s in scenarios}
    # Questions written about collection images are asked afresh by the collection stage.
    _, grounded_calls = catalog.query(
        "SELECT DISTINCT call_id FROM llm_calls WHERE stage = 'grounded_questions'"
    )
    grounded = {row[0] for row in grounded_calls}
    questions = [
        q
        for q in catalog.run_records("questions", previous.run_id, Question)
        if q.status == "accepted" and q.scenario in slugs and q.call_id not in grounded
    ]
    kept = {q.question_id for q in questions}
    extractions = [
        e
        for e in catalog.run_records("extractions", previous.run_id, Extraction)
        if e.question_id in kept
    ]
    generation = previous.summary.get(GENERATION_KEY) or {
        # A run recorded before growth existed: continue after its last round.
        "next_round": 1 + max((q.round for q in questions), default=-1),
        "requests": {},
    }
    return LineStart(
        previous_run=previous.run_id,
        previous_summary=previous.summary,
        questions=questions,
        extractions=extractions,
        earlier=EarlierQuestions(
            questions=questions,
            next_round=int(generation["next_round"]),
            requests={k: int(v) for k, v in generation["requests"].items()},
        ),
    )
