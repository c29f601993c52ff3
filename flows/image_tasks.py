"""Image work as chunk tasks mapped over the configured task runner.

A chunk task takes jobs (plain data), paths and the store URL, draws into its staging folder
(the artifacts folder for a local build), puts its files to the artifact store, and returns the
outcomes; it never touches the catalog. With the thread runner the whole stage is one task in
the flow's process (the renderer's own process pool does the parallel work); with process or
Dask runners the jobs are cut into chunks, one task each, drawn in-process by each worker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from flows.artifacts_store import ArtifactStore
from flows.limits import gpu_slot
from flows.runners import chunked, maps_over_workers
from generators.sd_images import SDJob, SDOutcome
from schemas.config import BuildConfig, ImageModelConfig
from typography import RenderJob, RenderOutcome

Progress = Callable[[int], None]
Done = Callable[[int, RenderOutcome], None]
CHUNK = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="render_chunk", **CHUNK)
def render_chunk(
    jobs: list[RenderJob],
    artifacts: Path,
    store_url: str | None,
    stage_dir: str | None,
    workers: int,
    progress: Progress | None = None,
    done: Done | None = None,
) -> list[RenderOutcome]:
    from typography import render_jobs

    store = ArtifactStore(store_url)
    stage = store.stage_dir(artifacts, stage_dir)  # resolved on the worker's own machine
    store.fetch(stage, [record for job in jobs for record in job.inputs])  # source images
    outcomes = render_jobs(jobs, stage, workers=workers, progress=progress, done=done)
    store.put(stage, [image for outcome in outcomes for image in outcome.images])
    return outcomes


@task(name="sd_chunk", **CHUNK)
def sd_chunk(
    jobs: list[SDJob],
    image_model: ImageModelConfig,
    artifacts: Path,
    store_url: str | None,
    stage_dir: str | None,
    gpu_limit: str | None,
    progress: Progress | None = None,
) -> list[SDOutcome]:
    from generators.sd_images import generate_sd_images

    store = ArtifactStore(store_url)
    stage = store.stage_dir(artifacts, stage_dir)
    with gpu_slot(gpu_limit):
        outcomes = generate_sd_images(jobs, image_model, stage, progress=progress)
    store.put(stage, [outcome.image for outcome in outcomes if outcome.image is not None])
    return outcomes


def _gather(
    futures: list[PrefectFuture[Any]],
    sizes: list[int],
    progress: Progress,
    done: Done | None = None,
) -> list[Any]:
    """Results in submission order (so outcomes line up with jobs), advancing per chunk;
    `done(index, result)` for each result of a chunk as the chunk arrives."""
    results: list[Any] = []
    for future, size in zip(futures, sizes, strict=True):
        for result in future.result():
            if done:
                done(len(results), result)
            results.append(result)
        progress(size)
    return results


def render_all(
    jobs: list[RenderJob],
    config: BuildConfig,
    artifacts: Path,
    runner: TaskRunner[Any],
    progress: Progress,
    done: Done | None = None,
) -> list[RenderOutcome]:
    """Render every job over `runner`; outcomes in job order. `done(index, outcome)` is called
    with each finished job as soon as this process has it (its files local or in the store)."""
    common = {
        "artifacts": artifacts,
        "store_url": ArtifactStore.from_config(config.runner).url,
        "stage_dir": config.runner.stage_dir,
    }
    if not maps_over_workers(config.runner):
        return render_chunk(
            jobs, workers=config.render.workers, progress=progress, done=done, **common
        )
    parts = chunked(jobs, config.runner.chunk_size)
    # Worker processes are daemons (no pools of their own): each draws its chunk in-process.
    futures = [runner.submit(render_chunk, {"jobs": p, "workers": 1, **common}) for p in parts]
    return _gather(futures, [len(p) for p in parts], progress, done)


def generate_all(
    jobs: list[SDJob],
    config: BuildConfig,
    artifacts: Path,
    runner: TaskRunner[Any],
    gpu_limit: str | None,
    progress: Progress,
) -> list[SDOutcome]:
    """Generate (or find) one SD image per job over `runner`; outcomes in job order."""
    common = {
        "image_model": config.image_model,
        "artifacts": artifacts,
        "store_url": ArtifactStore.from_config(config.runner).url,
        "stage_dir": config.runner.stage_dir,
        "gpu_limit": gpu_limit,
    }
    if not maps_over_workers(config.runner):
        return sd_chunk(jobs, progress=progress, **common)
    parts = chunked(jobs, config.runner.sd_chunk_size)
    futures = [runner.submit(sd_chunk, {"jobs": p, **common}) for p in parts]
    return _gather(futures, [len(p) for p in parts], progress)
