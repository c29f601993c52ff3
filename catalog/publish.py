"""Publish a recorded run as a release version, from the catalog alone (`safetyforge publish`).

The build flow publishes from its in-memory records; this path re-reads the same records from the
catalog, so any past run can be released under a new version without rebuilding anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from catalog.card import card_context
from catalog.outcomes import OutcomeCount, review_outcomes
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
from schemas.config import BuildConfig
from schemas.records import Extraction, Question, ReleaseRecord, ReviewDecision, Sample
from schemas.taxonomy import load_taxonomy


class PublishResult(StrictModel):
    status: Literal["published", "unchanged"]
    name: str
    version: str
    path: str
    release: ReleaseRecord | None = None


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
    if version is not None and bump is not None:
        raise ValueError("give either a version or a bump, not both")
    if version is not None:
        probe = config.release.model_copy()
        probe.version = version  # validates X.Y.Z
        return version
    if bump is not None:
        return next_version(existing, bump)
    return config.release.version


def scenario_names(taxonomy: str) -> dict[str, str]:
    return {s.slug: s.name for s in load_taxonomy(taxonomy).scenarios}


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
    content to an existing version is a no-op ("unchanged"); different content is refused.
    """
    run = catalog.run(run_id)
    config = BuildConfig.model_validate(run.config)
    name = config.release.name
    on_disk = [p.name for p in (releases_dir / name).glob("*.*.*") if p.is_dir()]
    existing = sorted(set(catalog.release_versions(name)) | set(on_disk))
    chosen = resolve_version(config, existing, version, bump)
    samples = catalog.run_records("samples", run_id, Sample)
    accepted = [s for s in samples if s.status == "accepted"]
    if not accepted:
        raise CatalogError(f"run {run_id} has no accepted sample to publish")
    images = catalog.images_by_id(i for s in accepted for i in s.image_ids)
    final = releases_dir / name / chosen
    if final.exists():
        if existing_fingerprint(final) == content_fingerprint(accepted, images):
            return PublishResult(status="unchanged", name=name, version=chosen, path=str(final))
        raise ReleaseExistsError(
            f"release {name} {chosen} exists at {final} with different content; versions are "
            "immutable: publish another version (build: --set release.version=X.Y.Z; "
            "publish: --version X.Y.Z or --bump minor)"
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
    record = write_release(
        samples=accepted,
        images=images,
        artifacts_dir=catalog.path.parent,
        releases_dir=releases_dir,
        config=config,
        run_id=run_id,
        scenario_names=names,
        card_context=card_context(config, run_id, images, hub_repo),
        outcomes=run_outcomes(catalog, run_id),
        version=chosen,
        quality=quality,
    )
    catalog.upsert("releases", [record])
    record_quality(catalog, quality)
    return PublishResult(
        status="published", name=name, version=chosen, path=str(final), release=record
    )
