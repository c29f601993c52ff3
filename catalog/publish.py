"""Publish a recorded run as a release version, from the catalog alone (`safetyforge publish`).

The build flow publishes from its in-memory records; this path re-reads the same records from the
catalog, so any past run can be released under a new version without rebuilding anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from catalog.card import Changelog, ChangeRow, card_context
from catalog.diff import DiffCell, ReleaseRow, diff_releases, release_rows, sample_rows
from catalog.outcomes import OutcomeCount, review_outcomes
from catalog.quality.contrast import leakage_rows, twin_rows
from catalog.quality.questions import sample_questions
from catalog.quality.report import quality_report, record_quality
from catalog.release import (
    Bump,
    ReleaseExistsError,
    content_fingerprint,
    existing_fingerprint,
    next_version,
    write_release,
)
from catalog.store import Catalog, CatalogError
from schemas._base import StrictModel
from schemas.config import AUTO_VERSION, BuildConfig, check_version
from schemas.records import (
    Extraction,
    LLMCall,
    Question,
    ReleaseRecord,
    ReviewDecision,
    Sample,
    is_transient,
)
from schemas.taxonomy import load_taxonomy

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class PublishResult(StrictModel):
    status: Literal["published", "unchanged"]
    name: str
    version: str
    path: str
    release: ReleaseRecord | None = None
    # The newest earlier version this one was compared with (None: the first version) and the
    # differences per scenario x variant (empty when unchanged).
    previous_version: str | None = None
    changes: list[DiffCell] = []


def with_sources(accepted: list[Sample]) -> list[Sample]:
    """The accepted samples less the benign twins whose source question has no accepted
    sample (rejected, or still under human review): a twin is published with its source."""
    sources = {s.question_id for s in accepted if s.twin_of is None}
    return [s for s in accepted if s.twin_of is None or s.twin_of in sources]


def run_outcomes(catalog: Catalog, run_id: str) -> list[OutcomeCount]:
    return review_outcomes(
        catalog.run_records("questions", run_id, Question),
        catalog.run_records("extractions", run_id, Extraction),
        catalog.run_records("samples", run_id, Sample),
        catalog.run_records("reviews", run_id, ReviewDecision),
    )


def resolve_version(
    config: BuildConfig,
    existing: list[str],
    version: str | None = None,
    bump: Bump | None = None,
) -> str:
    """An explicit version, else the next one after `existing`, else the config's version."""
    if version is not None:
        return check_version(version)
    if bump is not None:
        return next_version(existing, bump)
    return config.release.version


def scenario_names(taxonomy: str) -> dict[str, str]:
    return {s.slug: s.name for s in load_taxonomy(taxonomy).scenarios}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def auto_bump(changes: list[DiffCell]) -> Bump | None:
    """minor when samples were added or removed, patch when only their content changed,
    None when nothing changed."""
    if any(c.added or c.removed for c in changes):
        return "minor"
    return "patch" if changes else None


def changelog(previous: str | None, changes: list[DiffCell]) -> Changelog:
    return Changelog(
        previous_version=previous,
        rows=[
            ChangeRow(
                scenario=c.scenario,
                variant=c.variant,
                added=len(c.added),
                removed=len(c.removed),
                changed=len(c.changed),
            )
            for c in changes
        ],
    )


def publish_run(
    catalog: Catalog,
    run_id: str,
    *,
    releases_dir: Path,
    version: str | None = None,
    bump: Bump | None = None,
    hub_repo: str | None = None,
) -> PublishResult:
    """Write the run's accepted samples as a release version and record it in the catalog.

    Image paths are relative to the artifacts folder that holds the catalog. Publishing the same
    content to an existing version is a no-op ("unchanged"); different content is refused. With
    version "auto" (the argument, else the run's release.version) the version follows from the
    differences to the newest recorded version (see `auto_bump`); no difference is "unchanged".
    """
    run = catalog.run(run_id)
    config = BuildConfig.model_validate(run.config)
    name = config.release.name
    # Release folders only: a publish in progress stages into a hidden ".X.Y.Z-..." folder.
    on_disk = [p.name for p in (releases_dir / name).glob("*.*.*") if _VERSION.match(p.name)]
    recorded = catalog.release_versions(name)  # oldest first
    existing = sorted(set(recorded) | set(on_disk), key=version_key)
    samples = catalog.run_records("samples", run_id, Sample)
    accepted = with_sources([s for s in samples if s.status == "accepted"])
    if not accepted:
        raise CatalogError(f"run {run_id} has no accepted sample to publish")
    images = catalog.images_by_id(i for s in accepted for i in s.image_ids)
    rows = sample_rows(accepted, images)
    if version is not None and bump is not None:
        raise ValueError("give either a version or a bump, not both")
    if (version or (None if bump else config.release.version)) == AUTO_VERSION:
        previous = recorded[-1] if recorded else None
        changes = _changes(catalog, name, previous, rows)
        step = auto_bump(changes) if previous is not None else "minor"
        if step is None:
            assert previous is not None
            return PublishResult(
                status="unchanged",
                name=name,
                version=previous,
                path=str(releases_dir / name / previous),
                previous_version=previous,
            )
        chosen = next_version(existing, step)
    else:
        chosen = resolve_version(config, existing, version, bump)
        earlier = [v for v in recorded if version_key(v) < version_key(chosen)]
        previous = earlier[-1] if earlier else None
        changes = _changes(catalog, name, previous, rows)
    final = releases_dir / name / chosen
    if final.exists():
        if existing_fingerprint(final) == content_fingerprint(accepted, images):
            return PublishResult(status="unchanged", name=name, version=chosen, path=str(final))
        raise ReleaseExistsError(
            f"release {name} {chosen} exists at {final} with different content; versions are "
            "immutable: publish another version (build: --set release.version=X.Y.Z or auto; "
            "publish: --version X.Y.Z, --version auto or --bump minor)"
        )
    names = scenario_names(config.taxonomy)
    order = {slug: i for i, slug in enumerate(names)}
    quality = quality_report(
        catalog,
        name=name,
        version=chosen,
        run_id=run_id,
        questions=sample_questions(
            sorted(accepted, key=lambda s: order.get(s.scenario, len(order)))
        ),
        threshold=config.llm.near_duplicate_threshold,
        references=config.release.compare_with,
    )
    chosen_variants = [spec.name for spec in config.chosen_specs()]
    quality = quality.model_copy(
        update={
            "leakage": leakage_rows(
                samples, catalog.run_records("reviews", run_id, ReviewDecision), chosen_variants
            ),
            "twins": twin_rows(samples, accepted, names),
        }
    )
    record = write_release(
        samples=accepted,
        images=images,
        artifacts_dir=catalog.path.parent,
        releases_dir=releases_dir,
        config=config,
        run_id=run_id,
        scenario_names=names,
        card_context=card_context(
            config,
            run_id,
            images,
            hub_repo,
            changelog(previous, changes),
            unanswered=sum(
                is_transient(c.error) for c in catalog.run_records("llm_calls", run_id, LLMCall)
            ),
            run_summary=run.summary,
        ),
        outcomes=run_outcomes(catalog, run_id),
        version=chosen,
        quality=quality,
    )
    catalog.upsert("releases", [record])
    record_quality(catalog, quality)
    return PublishResult(
        status="published",
        name=name,
        version=chosen,
        path=str(final),
        release=record,
        previous_version=previous,
        changes=changes,
    )


def _changes(
    catalog: Catalog, name: str, previous: str | None, rows: list[ReleaseRow]
) -> list[DiffCell]:
    """The differences of `rows` to release `previous` (every row is added when None)."""
    before = release_rows(catalog, name, previous) if previous is not None else []
    return diff_releases(before, rows)
