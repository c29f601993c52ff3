"""Render stage over 4,000 images: the default thread runner vs a Dask LocalCluster of 2 workers.

Both render the same jobs (half TYPO key phrases, half FigStep statements; nothing cached) into
fresh artifacts folders through flows.image_tasks.render_all, the code path of the build flow,
with 2 processes each: the thread runner's one task uses the renderer's own pool of 2 spawned
processes (started inside the timed render, as in a build); the Dask runner maps chunks of
runner.chunk_size jobs over 2 worker processes, each drawing in-process. Start-up (cluster,
first task per worker) is timed apart from rendering. Prints both, images/s and the ratio.

    .venv/bin/python benchmarks/scale.py              # 4,000 images
    .venv/bin/python benchmarks/scale.py --n 1000     # quicker
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from render import phrases  # benchmarks/render.py: the same deterministic phrase generator

from flows.prefect_env import configure_prefect

NOTE = """\
What a remote cluster changes (runner.address=tcp://scheduler:8786 and
runner.artifact_store=s3://bucket/prefix): the per-image work is the same CPU on more cores, so
render time falls roughly as images / (workers x per-core rate) until the store is the limit.
Each worker draws into its local staging folder and PUTs every PNG (~10-40 KB) to the store,
one request per file; the flow then GETs what the release needs. A request to S3 or MinIO
takes milliseconds to tens of milliseconds (an estimate, not measured here), about what a
TYPO/FigStep image costs to draw, so the uploads can cost as much as the drawing: remote workers pay off for SD (seconds of GPU per
image), while typography is cheapest on one machine's cores with the thread runner. The
scheduler round-trip per chunk (~ms) is negligible at chunk sizes of 100+ jobs."""


def _jobs(n: int) -> list[Any]:
    from typography import RenderJob

    keys, statements = phrases(n // 2)
    return [RenderJob(kind="typo", text=k, preset="mmsb-typo") for k in keys] + [
        RenderJob(kind="figstep", text=s, preset="figstep") for s in statements
    ]


def _warm_up_jobs(n: int) -> list[Any]:
    from typography import RenderJob

    return [RenderJob(kind="typo", text=f"warm up {i}", preset="mmsb-typo") for i in range(n)]


def run(kind: str, jobs: list[Any], root: Path, workers: int, chunk: int) -> dict[str, float]:
    from prefect import flow

    from flows.image_tasks import render_all
    from flows.runners import started_task_runner
    from schemas.config import BuildConfig

    artifacts = root / kind
    cfg = BuildConfig.model_validate(
        {
            "artifacts_dir": str(artifacts),
            "render": {"workers": workers},
            "runner": {"kind": kind, "n_workers": workers, "chunk_size": chunk},
        }
    )

    @flow(name=f"scale-benchmark-{kind}")
    def render_stage() -> dict[str, float]:
        started = time.perf_counter()
        with started_task_runner(cfg.runner, artifacts) as runner:
            # One tiny chunk per worker first: Dask workers start and import the code (~10 s
            # here) on their first task; that is start-up, not render throughput.
            warm = cfg.model_copy(
                update={"runner": cfg.runner.model_copy(update={"chunk_size": 1})}
            )
            render_all(_warm_up_jobs(workers), warm, artifacts, runner, progress=lambda _n: None)
            ready = time.perf_counter()
            outcomes = render_all(jobs, cfg, artifacts, runner, progress=lambda _n: None)
            done = time.perf_counter()
        images = sum(len(o.images) for o in outcomes)
        return {"start_s": ready - started, "render_s": done - ready, "images": images}

    return render_stage()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="images (half typo, half figstep)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=200, help="jobs per Dask task")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="safetyforge-scale-"))
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    configure_prefect(root)
    jobs = _jobs(args.n)
    print(f"{len(jobs)} images, {args.workers} processes each, output under {root}")
    results = {kind: run(kind, jobs, root, args.workers, args.chunk) for kind in ("thread", "dask")}
    for kind, r in results.items():
        rate = r["images"] / r["render_s"]
        print(
            f"{kind:>6}: start {r['start_s']:6.2f} s  render {r['render_s']:7.2f} s  "
            f"{r['images']:.0f} images  {rate:7.1f} images/s"
        )
    thread, dask = results["thread"], results["dask"]
    print(
        f" ratio: dask/thread render time {dask['render_s'] / thread['render_s']:.2f}x, "
        f"with start-up {(dask['start_s'] + dask['render_s']) / (thread['start_s'] + thread['render_s']):.2f}x"
    )
    print()
    print(NOTE)


if __name__ == "__main__":
    main()
