"""A release as one self-contained static HTML gallery (`safetyforge view`): no server, no files
beside it. Filter by scenario, variant, review outcome and warnings; each sample shows its
images, prompt, question, key phrase, review outcome and warnings.

Light at 10,000 samples: images are embedded as small WebP thumbnails inside one JSON block,
and the page renders only the visible page of cards from it (client-side), so the DOM holds a
few dozen cards whatever the release size, and images decode lazily.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from itertools import chain
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image

from catalog.release import SPLITS, read_manifest
from schemas._base import StrictModel
from schemas.variants import builtin_specs

TEMPLATE = Path(__file__).with_name("gallery.html")
_PLACEHOLDER = "__GALLERY_DATA__"
_BATCH = 256


class ReviewNote(StrictModel):
    """The decision that stands for a sample (from the catalog)."""

    decision: str  # accept | reject
    reviewer: str
    reason: str = ""


class ExtraSample(StrictModel):
    """A sample that is not in the release (a rejected one of its run), with its image bytes."""

    row: dict[str, Any]  # the release's text columns
    images: list[bytes]


class GalleryStats(StrictModel):
    path: str
    samples: int
    images: int
    bytes: int


def thumbnail(data: bytes, max_side: int) -> str:
    """The image scaled to fit `max_side` (never up), as base64 WebP."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (max_side, max_side))  # JPEG decodes at a reduced size directly
        small = image.convert("RGB")
        # reducing_gap 1: a box reduction to about the size first, then Lanczos (2-3x faster
        # than gap 2, no visible difference at thumbnail size).
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=1.0)
    out = io.BytesIO()
    small.save(out, format="WEBP", quality=70, method=2)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _cells(row: Mapping[str, Any]) -> list[bytes]:
    if row.get("images") is not None:
        return [c["bytes"] for c in row["images"]]
    if row.get("image") is not None:
        return [row["image"]["bytes"]]
    return []


def release_rows(release_dir: Path, split: str) -> Iterator[tuple[dict[str, Any], list[bytes]]]:
    """Every row of every config of one split, streamed in batches: (text columns, image bytes)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    for config_dir in sorted(p for p in (release_dir / "data").iterdir() if p.is_dir()):
        for shard in sorted(config_dir.glob(f"{split}-*.parquet")):
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=_BATCH):
                for row in batch.to_pylist():
                    images = _cells(row)
                    row.pop("image", None)
                    row.pop("images", None)
                    yield row, images


def _sample(
    row: Mapping[str, Any], thumbs: list[str], note: ReviewNote | None, published: bool
) -> dict[str, Any]:
    """One sample as the page reads it (short keys: this is repeated 10,000 times)."""
    if note is None:
        note = ReviewNote(decision="accept" if published else "reject", reviewer="")
    return {
        "id": row["id"],
        "s": row["scenario"],
        # A benign twin (the `contrast` config) sits beside its source's variants, marked.
        "v": row["variant"] if row.get("label") != "benign" else f"{row['variant']} (benign twin)",
        "q": row["question"],
        "k": row["key_phrase"],
        "p": row["prompt"],
        "w": list(row.get("warnings") or []),
        "o": "accepted" if note.decision == "accept" else "rejected",
        "r": note.reviewer,
        "why": note.reason,
        "m": thumbs,
    }


def _thumbnails(pool: Executor | None, batch: list[list[bytes]], max_side: int) -> list[list[str]]:
    flat = [data for images in batch for data in images]
    sides = [max_side] * len(flat)
    done = list(
        pool.map(thumbnail, flat, sides, chunksize=16) if pool else map(thumbnail, flat, sides)
    )
    out, start = [], 0
    for images in batch:
        out.append(done[start : start + len(images)])
        start += len(images)
    return out


def write_gallery(
    release_dir: Path,
    out: Path,
    *,
    split: str = "test",
    reviews: Mapping[str, ReviewNote] | None = None,
    extra: Sequence[ExtraSample] = (),
    scenario_names: Mapping[str, str] | None = None,
    max_side: int = 256,
    workers: int = 0,
) -> GalleryStats:
    """Write the gallery of one split of a release (plus `extra` samples, e.g. rejected ones)
    to `out`. `reviews`: the decision per sample id; `workers`: thumbnail processes (0: one
    per CPU, 1: in this process)."""
    manifest = read_manifest(release_dir)
    reviews = reviews or {}
    # Sorted by scenario (taxonomy order), question, then variant: a question's variants sit
    # side by side.
    keyed: list[tuple[tuple[int, str, int], dict[str, Any]]] = []
    names = dict(scenario_names or {})
    variants = {v: i for i, v in enumerate(builtin_specs())}
    count = workers or os.cpu_count() or 1
    context = ProcessPoolExecutor(count) if count > 1 else nullcontext(None)
    with context as pool:
        pending: list[tuple[dict[str, Any], list[bytes], bool]] = []

        def flush() -> None:
            thumbs = _thumbnails(pool, [images for _, images, _ in pending], max_side)
            for (row, _, published), small in zip(pending, thumbs, strict=True):
                names.setdefault(row["scenario"], row.get("scenario_name") or row["scenario"])
                order = list(names).index(row["scenario"])
                key = (order, row["question_id"], variants.get(row["variant"], len(variants)))
                keyed.append((key, _sample(row, small, reviews.get(row["id"]), published)))
            pending.clear()

        published = ((row, images, True) for row, images in release_rows(release_dir, split))
        others = ((e.row, e.images, False) for e in extra)
        for item in chain(published, others):
            pending.append(item)
            if len(pending) >= _BATCH:
                flush()
        flush()
    samples = [sample for _, sample in sorted(keyed, key=lambda item: item[0])]
    data = {
        "name": manifest["name"],
        "version": manifest["version"],
        "split": split,
        "scenarios": names,
        "samples": samples,
    }
    # "</" inside a <script> block would end it early.
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    html = TEMPLATE.read_text(encoding="utf-8").replace(_PLACEHOLDER, payload)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return GalleryStats(
        path=str(out),
        samples=len(samples),
        images=sum(len(s["m"]) for s in samples),
        bytes=out.stat().st_size,
    )
