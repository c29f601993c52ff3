"""Run image recipes to content-addressed files, in parallel over processes, with a cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, Literal

import PIL
from PIL import Image, features
from pydantic import Field

from schemas._base import StrictModel
from schemas.images import image_bytes
from schemas.records import ImageRecord, stable_id
from typography.errors import TypographyError
from typography.fonts import known_hashes, remember_hashes, resolve_chain
from typography.ops import Picture, run_chain
from typography.presets import get_preset
from typography.renderers import layout_engine
from typography.store import Ledger, encode_png, job_dir, write_file
from typography.text import clean_text

# Bump when a change to the drawing code changes pixels: every id changes, so all is redrawn.
RENDERER_VERSION = "2"
# Below this many images to draw, starting worker processes costs more than it saves.
MIN_JOBS_FOR_POOL = 24


class Encoding(StrictModel):
    """How pictures become files. `format` and `color` change the bytes (they are in the image
    id); `compress_level` is lossless, so it is not."""

    format: Literal["png", "jpeg"] = "png"
    # keep: grayscale typography stays 8-bit gray; rgb: every image RGB, as the originals.
    color: Literal["keep", "rgb"] = "keep"
    compress_level: int = Field(default=1, ge=0, le=9)
    jpeg_quality: int = Field(default=75, ge=1, le=100)


class RenderJob(StrictModel):
    """One image recipe to run: resolved steps (see typography.ops) over source images."""

    kind: str  # the variant: its images live under images/<kind>/
    steps: list[dict[str, Any]]
    # Source images (Stable Diffusion, collection) the recipe's source steps take, in order.
    inputs: list[ImageRecord] = Field(default_factory=list)
    encoding: Encoding = Field(default_factory=Encoding)


class RenderOutcome(StrictModel):
    job: RenderJob
    # One image, or the ordered images (FigStep-Pro fragments) a recipe yields.
    images: list[ImageRecord]
    # Why the recipe cannot be run (images then empty); content problems never raise.
    error: str | None = None
    rendered: bool  # False when every file already existed (cache hit)


def _fingerprint(step: dict[str, Any]) -> dict[str, Any]:
    """A text step with what decides its pixels spelled out: the preset's geometry and the
    bytes of every font in its chain."""
    if step["op"] != "text":
        return step
    preset = get_preset(step["preset"], step.get("presets"))
    user = tuple(sorted((step.get("fonts") or {}).items()))
    fonts = [f.sha256 for f in resolve_chain(preset.font_names, user)]
    return {**step, "geometry": preset.model_dump(mode="json"), "font_sha256": fonts}


def render_id(job: RenderJob) -> str:
    """Hash of everything that decides the pixels: the variant, every step with its parameters
    (text steps with preset geometry and font bytes), the input images' bytes, the encoding
    and the renderer version."""
    decided = {
        "kind": job.kind,
        "steps": [_fingerprint(s) for s in job.steps],
        "inputs": [r.sha256 for r in job.inputs],
        "encoding": job.encoding.model_dump(exclude={"compress_level"}),
        "renderer": RENDERER_VERSION,
    }
    return stable_id("render", json.dumps(decided, sort_keys=True, ensure_ascii=False), length=24)


def draw(job: RenderJob, artifacts_dir: Path | None = None) -> list[Picture]:
    """Run a job's recipe in memory (no files); raises TypographyError when it cannot."""
    inputs = []
    for record in job.inputs:
        if artifacts_dir is None:
            raise TypographyError("a recipe with source images needs the artifacts folder")
        with Image.open(io.BytesIO(image_bytes(artifacts_dir, record))) as opened:
            inputs.append(opened.copy())
    return run_chain(job.steps, inputs)


def _encode(image: Image.Image, encoding: Encoding) -> tuple[Image.Image, bytes]:
    if encoding.color == "rgb" and image.mode != "RGB" and image.mode != "RGBA":
        image = image.convert("RGB")
    if encoding.format == "png":
        return image, encode_png(image, encoding.compress_level)
    buffer = io.BytesIO()
    flat = image.convert("RGB") if image.mode == "RGBA" else image
    flat.save(buffer, format="JPEG", quality=encoding.jpeg_quality)
    return flat, buffer.getvalue()


def _provenance(record: ImageRecord) -> dict[str, Any]:
    kept = {k: record.params[k] for k in ("source", "license", "original_id") if k in record.params}
    return {"image_id": record.image_id, "kind": record.kind, **kept}


def make_record(
    picture: Picture,
    image: Image.Image,
    *,
    image_id: str,
    kind: str,
    path: str,
    sha256: str,
    job: RenderJob,
    extra: dict[str, Any],
    byte_range: list[int] | None = None,
) -> ImageRecord:
    """The record of one written image: its recipe, geometry actually used, fonts, versions."""
    primary = picture.fonts[0] if picture.fonts else None
    params = {
        **picture.meta,
        **extra,
        "steps": job.steps,
        "input_sha256": [r.sha256 for r in job.inputs],
        # Where each source image came from (collection images: source and licence), so a
        # release can credit the images its composites contain.
        "input_sources": [_provenance(r) for r in job.inputs],
        "mode": image.mode,
        "layout_engine": layout_engine(),
        "encoding": job.encoding.model_dump(),
        "png_compress_level": job.encoding.compress_level,
        "renderer_version": RENDERER_VERSION,
        "fonts": [f.model_dump() for f in picture.fonts],
    }
    return ImageRecord(
        image_id=image_id,
        path=path,
        sha256=sha256,
        byte_range=byte_range,
        kind=kind,
        text=picture.text,
        width=image.width,
        height=image.height,
        params=params,
        font_path=primary.path if primary else None,
        font_sha256=primary.sha256 if primary else None,
        font_size=picture.font_size,
        pillow_version=PIL.__version__,
        freetype_version=features.version("freetype2"),
    )


def _records(
    pictures: list[Picture], job: RenderJob, job_id: str, artifacts_dir: Path, redraw: bool
) -> list[ImageRecord]:
    """Write the pictures and return their records (the caller appends the ledger line).
    Several pictures go into one pack file, their files back to back: creating a file costs
    more than encoding a small fragment, so one file per set, not per fragment."""
    several = len(pictures) > 1
    encoded = [_encode(p.image, job.encoding) for p in pictures]
    ext = "png" if job.encoding.format == "png" else "jpg"
    path = job_dir(artifacts_dir, job.kind, job_id) / f"{job_id}.{ext + 's' if several else ext}"
    write_file(path, b"".join(data for _, data in encoded), atomic=redraw)
    records, offset = [], 0
    for number, (picture, (image, data)) in enumerate(zip(pictures, encoded, strict=True)):
        extra: dict[str, Any] = {}
        if several:
            extra = {
                "fragment_index": number,
                "fragment_count": len(pictures),
                "fragment_set_id": job_id,
            }
        records.append(
            make_record(
                picture,
                image,
                image_id=f"{job_id}_{number}" if several else job_id,
                kind=job.kind,
                path=path.relative_to(artifacts_dir).as_posix(),
                sha256=hashlib.sha256(data).hexdigest(),
                job=job,
                extra=extra,
                byte_range=[offset, len(data)] if several else None,
            )
        )
        offset += len(data)
    return records


def _plan(job: RenderJob) -> tuple[str | None, str | None]:
    """(job id, None), or (None, error) when the job is unusable before any drawing: a bad
    preset or font raises (a config problem); unusable text is an error outcome."""
    try:
        steps = [
            {**s, "text": clean_text(s["text"])} if s["op"] == "text" else s for s in job.steps
        ]
    except TypographyError as exc:
        return None, str(exc)
    return render_id(job.model_copy(update={"steps": steps})), None


def _render_one(job: RenderJob, job_id: str, artifacts_dir: Path, redraw: bool) -> RenderOutcome:
    try:
        pictures = draw(job, artifacts_dir)
    except TypographyError as exc:
        return RenderOutcome(job=job, images=[], error=str(exc), rendered=False)
    records = _records(pictures, job, job_id, artifacts_dir, redraw)
    Ledger(artifacts_dir, job.kind).append(job_id, records)
    return RenderOutcome(job=job, images=records, rendered=True)


_Args = tuple[RenderJob, str, Path, bool]
Done = Callable[[int, RenderOutcome], None]


def _render_star(args: _Args) -> RenderOutcome:
    return _render_one(*args)


def _render_batch(batch: list[_Args]) -> list[RenderOutcome]:
    return [_render_one(*args) for args in batch]


def render_jobs(
    jobs: list[RenderJob],
    artifacts_dir: Path,
    *,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    done: Done | None = None,
) -> list[RenderOutcome]:
    """Render every job (files under artifacts_dir) and return outcomes in job order.

    Jobs in the ledger whose images exist are read back, not drawn (rendered=False). The rest run
    over `workers` processes (0: one per CPU core; 1: in this process), each writing its files
    as it goes, so memory stays flat. `progress(n)` is called as jobs complete, n at a time, and
    `done(index, outcome)` with each finished job (in this process, as it arrives), so a caller
    can start on the images while the rest are drawn.
    A bad preset name or a missing main font raises TypographyError before anything is drawn;
    a recipe that cannot be run on its text gives an outcome with `error` set.
    """
    artifacts_dir = Path(artifacts_dir)
    outcomes: list[RenderOutcome | None] = [None] * len(jobs)
    todo: list[tuple[int, _Args]] = []
    ledgers: dict[str, Ledger] = {}
    for index, job in enumerate(jobs):
        job_id, error = _plan(job)
        if job.kind not in ledgers:
            ledgers[job.kind] = Ledger(artifacts_dir, job.kind)
        ledger = ledgers[job.kind]
        records = None if job_id is None else ledger.lookup(job_id)
        if job_id is None or records is not None:
            outcomes[index] = outcome = RenderOutcome(
                job=job, images=records or [], error=error, rendered=False
            )
            if progress:
                progress(1)
            if done:
                done(index, outcome)
        else:
            todo.append((index, (job, job_id, artifacts_dir, ledger.known(job_id))))
    count = workers or os.cpu_count() or 1
    if count == 1 or len(todo) < MIN_JOBS_FOR_POOL:
        _collect(todo, map(_render_star, (args for _, args in todo)), outcomes, progress, done)
    else:
        _render_pooled(todo, count, outcomes, progress, done)
    return [o for o in outcomes if o is not None]


def _render_pooled(todo, count: int, outcomes, progress, done) -> None:
    """Draw over `count` worker processes. Starting them takes a few hundred milliseconds (the
    fork server imports this module before the first worker exists), so a thread submits the
    work while this process draws jobs itself until the pool has taken the rest."""
    pending = deque(todo)
    lock = threading.Lock()

    def take(n: int) -> list[tuple[int, _Args]]:
        with lock:
            return [pending.popleft() for _ in range(min(n, len(pending)))]

    chunk = max(1, min(64, len(todo) // (count * 8)))
    submitted: list[tuple[list[tuple[int, _Args]], Future[list[RenderOutcome]]]] = []
    failed: list[BaseException] = []
    with ProcessPoolExecutor(
        count,
        mp_context=_pool_context(),
        initializer=remember_hashes,
        initargs=(known_hashes(),),
    ) as pool:

        def feed() -> None:
            try:
                while batch := take(chunk):  # the first submit waits for the pool to start
                    submitted.append((batch, pool.submit(_render_batch, [a for _, a in batch])))
            except BaseException as exc:  # re-raised below: no job may be silently lost
                failed.append(exc)

        feeder = threading.Thread(target=feed, name="render-feeder", daemon=True)
        feeder.start()
        while batch := take(1):
            _collect(batch, map(_render_star, (a for _, a in batch)), outcomes, progress, done)
        feeder.join()
        if failed:
            raise failed[0]
        for batch, future in submitted:
            _collect(batch, future.result(), outcomes, progress, done)


def _pool_context() -> BaseContext:
    # forkserver, not fork: the caller (a Prefect flow) runs threads, which fork can deadlock;
    # not spawn: the server imports this module once and workers fork from it already warm.
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _collect(todo, results, outcomes, progress, done) -> None:
    for (index, _), outcome in zip(todo, results, strict=True):
        outcomes[index] = outcome
        if progress:
            progress(1)
        if done:
            done(index, outcome)


def render_preview(job: RenderJob, out: Path, artifacts_dir: Path | None = None, gap: int = 12):
    """Run one job and save it to `out` (several pictures side by side with a grey gap, so
    the cuts show); no cache, no record. Raises TypographyError when it cannot be drawn."""
    pictures = draw(job, artifacts_dir)
    images = [p.image.convert("RGB") for p in pictures]
    width = sum(i.width for i in images) + gap * (len(images) - 1)
    sheet = Image.new("RGB", (width, max(i.height for i in images)), (160, 160, 160))
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return pictures
