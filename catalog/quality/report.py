"""Measure a release's quality from the catalog: diversity per scenario, overlap with every
earlier version of the same name and with the reference benchmarks asked for."""

from __future__ import annotations

from collections.abc import Sequence

from catalog.quality.diversity import diversity
from catalog.quality.overlap import best_matches, overlap
from catalog.quality.questions import catalog_questions
from catalog.quality.references import read_reference, reference_label
from catalog.store import Catalog
from schemas.quality import QualityReport, QuestionText
from schemas.records import Question


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def earlier_versions(catalog: Catalog, name: str, version: str) -> dict[str, list[QuestionText]]:
    """The questions of each version of `name` older than `version` in the catalog, by
    `NAME@X.Y.Z`."""
    return {
        f"{name}@{old}": catalog_questions(catalog, name, old)
        for old in catalog.release_versions(name)
        if version_key(old) < version_key(version)
    }


def quality_report(
    catalog: Catalog,
    *,
    name: str,
    version: str,
    run_id: str,
    questions: Sequence[QuestionText],
    threshold: float,
    references: Sequence[str] = (),
) -> QualityReport:
    candidates = catalog.run_records("questions", run_id, Question)
    others = earlier_versions(catalog, name, version)
    others |= {reference_label(spec): read_reference(spec) for spec in references}
    rows = [
        row
        for label, other in others.items()
        for row in overlap(
            name, version, label, best_matches(questions, other), questions, threshold
        )
    ]
    return QualityReport(
        diversity=diversity(name, version, questions, candidates), overlap=rows, threshold=threshold
    )


def record_quality(catalog: Catalog, report: QualityReport) -> None:
    catalog.upsert("diversity", report.diversity)
    catalog.upsert("overlap", report.overlap)
