"""Render jobs to content-addressed PNG files, in parallel over processes, with a cache."""

from __future__ import annotations

import hashlib
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

from schemas._base import StrictModel
from schemas.records import ImageRecord, stable_id
from typography.errors import TypographyError
from typography.fonts import known_hashes, remember_hashes, resolve_chain
from typography.presets import FigStepPreset, FigStepProPreset, TypoPreset, get_preset
from typography.renderers import (
    Drawn,
    draw_figstep,
    draw_figstep_pro,
    draw_typo,
    layout_engine,
)
from typography.store import Ledger, encode_png, job_dir, write_file
from typography.text import clean_text

# Bump when a change to the drawing code changes pixels: every id changes, so all is redrawn.
RENDERER_VERSION = "1"
# Below this many images to draw, starting worker processes costs more than it saves.
MIN_JOBS_FOR_POOL = 24

JobKind = Literal["typo", "figstep", "figstep_pro"]


class RenderJob(StrictModel):
    """One image (or one set of FigStep-Pro fragments) to make."""

    kind: JobKind
    text: str  # typo and figstep_pro: the key phrase; figstep: the FigStep statement
    preset: str  # a name in PRESETS, e.g. RenderConfig.typo_preset


class RenderOutcome(StrictModel):
    job: RenderJob
    # One image for typo/figstep; the fragments, left to right, for figstep_pro.
    images: list[ImageRecord]
    # Why the text cannot be rendered (images then empty); content problems never raise.
    error: str | None = None
    rendered: bool  # False when every file already existed (cache hit)


def _preset_for(job: RenderJob) -> TypoPreset | FigStepPreset | FigStepProPreset:
    preset = get_preset(job.preset)
    if preset.layout != job.kind:  # layouts are named after the job kinds they draw
        raise TypographyError(
            f"preset {job.preset!r} draws {preset.layout!r} images, not {job.kind!r}"
        )
    return preset


def render_id(kind: str, text: str, preset: StrictModel, font_names: tuple[str, ...]) -> str:
    """Hash of everything that decides the pixels: kind, cleaned text, preset geometry, the
    bytes of every font in the chain, and the renderer version."""
    fonts = ",".join(f.sha256 for f in resolve_chain(font_names))
    geometry = json.dumps(preset.model_dump(mode="json"), sort_keys=True)
    return stable_id("render", kind, text, geometry, fonts, RENDERER_VERSION, length=24)


def draw(job: RenderJob) -> Drawn:
    """Draw a job in memory (no files); raises TypographyError when the text cannot be drawn."""
    preset = _preset_for(job)
    text = clean_text(job.text)
    if isinstance(preset, TypoPreset):
        return draw_typo(preset, text)
    if isinstance(preset, FigStepPreset):
        return draw_figstep(preset, text)
    return draw_figstep_pro(preset, text)


def make_record(
    drawn: Drawn,
    image: Image.Image,
    *,
    image_id: str,
    kind: str,
    text: str,
    path: str,
    sha256: str,
    compress_level: int,
    extra: dict[str, Any],
    byte_range: list[int] | None = None,
) -> ImageRecord:
    """The record of one written image: geometry actually used, fonts, library versions."""
    primary = drawn.fonts[0]
    params = {
        **drawn.params,
        **extra,
        "mode": image.mode,
        "layout_engine": layout_engine(),
        "png_compress_level": compress_level,
        "png_zlib_strategy": "rle",
        "renderer_version": RENDERER_VERSION,
        "fonts": [f.model_dump() for f in drawn.fonts],
    }
    return ImageRecord(
        image_id=image_id,
        path=path,
        sha256=sha256,
        byte_range=byte_range,
        kind=kind,
        text=text,
        width=image.width,
        height=image.height,
        params=params,
        font_path=primary.path,
        font_sha256=primary.sha256,
        font_size=drawn.font_size,
        pillow_version=PIL.__version__,
        freetype_version=features.version("freetype2"),
    )


def _records(
    drawn: Drawn, kind: str, job_id: str, artifacts_dir: Path, compress_level: int, redraw: bool
) -> list[ImageRecord]:
    """Write the drawn images and return their records (the caller appends the ledger line).
    A FigStep-Pro set is one pack file holding its fragments' PNGs back to back: creating a
    file costs more than encoding a small fragment, so one file per set, not per fragment."""
    fragments = kind == "figstep_pro"
    encoded = [encode_png(image, compress_level) for image in drawn.images]
    path = job_dir(artifacts_dir, kind, job_id) / f"{job_id}.{'pngs' if fragments else 'png'}"
    write_file(path, b"".join(encoded), atomic=redraw)
    records, offset = [], 0
    for number, (image, text, data) in enumerate(
        zip(drawn.images, drawn.texts, encoded, strict=True)
    ):
        extra: dict[str, Any] = {}
        if fragments:
            extra = {
                "fragment_index": number,
                "fragment_count": len(drawn.images),
                "fragment_set_id": job_id,
            }
        records.append(
            make_record(
                drawn,
                image,
                image_id=f"{job_id}_{number}" if fragments else job_id,
                kind="figstep_pro_fragment" if fragments else kind,
                text=text,
                path=path.relative_to(artifacts_dir).as_posix(),
                sha256=hashlib.sha256(data).hexdigest(),
                compress_level=compress_level,
                extra=extra,
                byte_range=[offset, len(data)] if fragments else None,
            )
        )
        offset += len(data)
    return records


def _plan(job: RenderJob) -> tuple[str | None, str | None]:
    """(job id, None), or (None, error) when the text is unusable before any drawing."""
    preset = _preset_for(job)
    try:
        text = clean_text(job.text)
    except TypographyError as exc:
        return None, str(exc)
    return render_id(job.kind, text, preset, preset.font_names), None


def _render_one(
    job: RenderJob, job_id: str, artifacts_dir: Path, compress_level: int, redraw: bool
) -> RenderOutcome:
    try:
        drawn = draw(job)
    except TypographyError as exc:
        return RenderOutcome(job=job, images=[], error=str(exc), rendered=False)
    records = _records(drawn, job.kind, job_id, artifacts_dir, compress_level, redraw)
    Ledger(artifacts_dir, job.kind).append(job_id, records)
    return RenderOutcome(job=job, images=records, rendered=True)


_Args = tuple[RenderJob, str, Path, int, bool]


def _render_star(args: _Args) -> RenderOutcome:
    return _render_one(*args)


def _render_batch(batch: list[_Args]) -> list[RenderOutcome]:
    return [_render_one(*args) for args in batch]


def render_jobs(
    jobs: list[RenderJob],
    artifacts_dir: Path,
    *,
    compress_level: int = 1,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[RenderOutcome]:
    """Render every job (files under artifacts_dir) and return outcomes in job order.

    Jobs in the ledger whose images exist are read back, not drawn (rendered=False). The rest run
    over `workers` processes (0: one per CPU core; 1: in this process), each writing its files
    as it goes, so memory stays flat. `progress(n)` is called as jobs complete, n at a time.
    A bad preset name or a missing main font raises TypographyError before anything is drawn;
    text that cannot be rendered gives an outcome with `error` set.
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
            outcomes[index] = RenderOutcome(
                job=job, images=records or [], error=error, rendered=False
            )
            if progress:
                progress(1)
        else:
            todo.append((index, (job, job_id, artifacts_dir, compress_level, ledger.known(job_id))))
    count = workers or os.cpu_count() or 1
    if count == 1 or len(todo) < MIN_JOBS_FOR_POOL:
        _collect(todo, map(_render_star, (args for _, args in todo)), outcomes, progress)
    else:
        _render_pooled(todo, count, outcomes, progress)
    return [o for o in outcomes if o is not None]


def _render_pooled(todo, count: int, outcomes, progress) -> None:
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
            _collect(batch, map(_render_star, (a for _, a in batch)), outcomes, progress)
        feeder.join()
        if failed:
            raise failed[0]
        for batch, future in submitted:
            _collect(batch, future.result(), outcomes, progress)


def _pool_context() -> BaseContext:
    # forkserver, not fork: the caller (a Prefect flow) runs threads, which fork can deadlock;
    # not spawn: the server imports this module once and workers fork from it already warm.
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _collect(todo, results, outcomes, progress) -> None:
    for (index, _), outcome in zip(todo, results, strict=True):
        outcomes[index] = outcome
        if progress:
            progress(1)


def render_preview(job: RenderJob, out: Path, gap: int = 12) -> Drawn:
    """Draw one job and save it to `out` (fragments side by side with a grey gap, so the cuts
    show); no cache, no sidecar. Raises TypographyError when the text cannot be rendered."""
    drawn = draw(job)
    width = sum(i.width for i in drawn.images) + gap * (len(drawn.images) - 1)
    sheet = Image.new("L", (width, max(i.height for i in drawn.images)), 160)
    x = 0
    for image in drawn.images:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return drawn
