"""Find a release folder from what a user types: `DIR`, `DIR@X.Y.Z` or a name folder (newest)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from catalog.quality.report import version_key
from catalog.release import MANIFEST
from schemas._base import StrictModel


class LocatedRelease(StrictModel):
    folder: str
    name: str
    version: str
    run_id: str
    taxonomy: str
    near_duplicate_threshold: float


def locate_release(spec: str) -> LocatedRelease:
    """`releases/NAME/1.2.0`, `releases/NAME@1.2.0`, or `releases/NAME` (its newest version)."""
    base, _, version = spec.rpartition("@") if "@" in spec else (spec, "", "")
    folder = Path(base)
    if not folder.is_dir():
        raise FileNotFoundError(f"{spec}: no such folder")
    if version:
        folder = folder / version
    elif not (folder / MANIFEST).is_file():
        versions = [p.name for p in folder.iterdir() if (p / MANIFEST).is_file()]
        if not versions:
            raise FileNotFoundError(f"{folder} holds no release (no {MANIFEST}, no version folder)")
        folder = folder / max(versions, key=version_key)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} is not a release folder (no {MANIFEST})")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    build = yaml.safe_load((folder / "build_config.yaml").read_text(encoding="utf-8"))
    return LocatedRelease(
        folder=str(folder),
        name=manifest["name"],
        version=manifest["version"],
        run_id=manifest["run_id"],
        taxonomy=build.get("taxonomy", "mm-safetybench"),
        near_duplicate_threshold=build.get("llm", {}).get("near_duplicate_threshold", 0.85),
    )


def artifacts_of(release_folder: Path) -> Path | None:
    """The artifacts folder a release was published from (`<artifacts>/releases/NAME/X.Y.Z`),
    when its catalog is still there."""
    parents = release_folder.resolve().parents
    if len(parents) < 3:
        return None
    return parents[2] if (parents[2] / "catalog.duckdb").is_file() else None
