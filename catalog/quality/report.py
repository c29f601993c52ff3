"""Measure a release's quality from the catalog: diversity per scenario, overlap with every
earlier version of the same name and with the reference benchmarks asked for."""

from __future__ import annotations

from collections.abc import Sequence

from catalog.quality.diversity import diversity
from catalog.quality.overlap import best_matches, overlap
from catalog.quality.questions import catalog_questions
from catalog.quality.references import read_reference, reference_label
from catalog.store import Catalog
from schemas.quality import OverlapRow, QualityReport, QuestionText
from schemas.records import Question


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def earlier_overlap(
    catalog: Catalog, name: str, version: str, questions: Sequence[QuestionText], threshold: float
) -> list[OverlapRow]:
    """Overlap with each version of `name` older than `version` recorded in the catalog."""
    rows: list[OverlapRow] = []
    for old in catalog.release_versions(name):
        if _version_key(old) >= _version_key(version):
            continue
        matches = best_matches(questions, catalog_questions(catalog, name, old))
        rows += overlap(name, version, f"{name}@{old}", matches, questions, threshold)
    return rows


def reference_overlap(
    name: str, version: str, questions: Sequence[QuestionText], spec: str, threshold: float
) -> list[OverlapRow]:
    matches = best_matches(questions, read_reference(spec))
    return overlap(name, version, reference_label(spec), matches, questions, threshold)


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
    rows = earlier_overlap(catalog, name, version, questions, threshold)
    for spec in references:
        rows += reference_overlap(name, version, questions, spec, threshold)
    return QualityReport(
        diversity=diversity(name, version, questions, candidates), overlap=rows, threshold=threshold
    )


def record_quality(catalog: Catalog, report: QualityReport) -> None:
    catalog.upsert("diversity", report.diversity)
    catalog.upsert("overlap", report.overlap)
