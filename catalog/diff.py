"""Compare two release versions sample by sample, from the catalog's lineage.

A release records its run and sample ids; the run's samples and images give each row's content.
Ids are stable (same question and variant, same id), so a row present in both versions with a
different content hash was changed (a corrected key phrase, a re-rendered image, a new prompt).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from catalog.release import row_content_sha256
from catalog.store import Catalog, CatalogError
from schemas._base import StrictModel
from schemas.records import CONTRAST_CONFIG, ImageRecord, Sample


class ReleaseRow(StrictModel):
    sample_id: str
    scenario: str
    variant: str
    content_sha256: str


class DiffCell(StrictModel):
    """Differences in one scenario x variant cell (only cells with a difference are listed)."""

    scenario: str
    variant: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    unchanged: int


def release_rows(catalog: Catalog, name: str, version: str) -> list[ReleaseRow]:
    release = catalog.release(name, version)
    samples: list[Sample] = catalog.records(
        "samples",
        "run_id = ? AND sample_id IN (SELECT unnest(?))",
        [release.run_id, release.sample_ids],
    )
    missing = set(release.sample_ids) - {s.sample_id for s in samples}
    if missing:
        raise CatalogError(
            f"release {name} {version}: {len(missing)} sample(s) of run {release.run_id} are not in the catalog"
        )
    return sample_rows(samples, catalog.images_by_id(i for s in samples for i in s.image_ids))


def sample_rows(samples: Iterable[Sample], images: Mapping[str, ImageRecord]) -> list[ReleaseRow]:
    """The rows a release of `samples` would hold (to compare content not yet published)."""
    return [
        ReleaseRow(
            sample_id=s.sample_id,
            scenario=s.scenario,
            # A benign twin's row is in the `contrast` config: its own cell.
            variant=s.variant if s.twin_of is None else f"{CONTRAST_CONFIG}/{s.variant}",
            content_sha256=row_content_sha256(s, images),
        )
        for s in samples
    ]


def diff_releases(old: Iterable[ReleaseRow], new: Iterable[ReleaseRow]) -> list[DiffCell]:
    """Added / removed / changed sample ids per scenario and variant, sorted."""
    before = {r.sample_id: r for r in old}
    after = {r.sample_id: r for r in new}
    cells: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
        lambda: {"added": [], "removed": [], "changed": [], "unchanged": []}
    )
    for sid, row in after.items():
        if sid not in before:
            kind = "added"
        elif before[sid].content_sha256 != row.content_sha256:
            kind = "changed"
        else:
            kind = "unchanged"
        cells[(row.scenario, row.variant)][kind].append(sid)
    for sid, row in before.items():
        if sid not in after:
            cells[(row.scenario, row.variant)]["removed"].append(sid)
    return [
        DiffCell(
            scenario=scenario,
            variant=variant,
            added=sorted(c["added"]),
            removed=sorted(c["removed"]),
            changed=sorted(c["changed"]),
            unchanged=len(c["unchanged"]),
        )
        for (scenario, variant), c in sorted(cells.items())
        if c["added"] or c["removed"] or c["changed"]
    ]
