"""SD chunks on a 2-worker Dask LocalCluster, sharing files through an fsspec store, make the same
sd and sd_typo images as the thread runner, and hold a slot of the GPU limit while they run.

On CPU, torch's sums depend on its thread count (measured with the tiny pipeline: 1 and 2
threads give different bytes for one of two phrases) and on the batch, so the thread-runner
build runs with what a Dask worker has: one thread (distributed sets OMP_NUM_THREADS=1) and
batches of one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from catalog import Catalog
from flows.limits import GPU_LIMIT
from schemas.config import load_config


def _build(artifacts: Path, tiny_model: Path, extra: list[str]) -> dict[str, Any]:
    from flows.build import build_benchmark

    cfg = load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[fraud]",
            "questions_per_scenario=2",
            "variants=[sd, sd_typo]",
            f"image_model.path={tiny_model}",
            "image_model.steps=2",
            "image_model.width=64",
            "image_model.height=64",
            "image_model.batch_size=1",
            "render.workers=1",
            *extra,
        ],
    )
    return build_benchmark(config=cfg.model_dump(mode="json"))


@pytest.fixture(scope="module")
def sd_runs(
    prefect_api: None, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    import torch

    root = tmp_path_factory.mktemp("scale-sd")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        thread = _build(root / "thread", tiny_model, [])
    finally:
        torch.set_num_threads(threads)
    dask = _build(
        root / "dask",
        tiny_model,
        [
            "runner.kind=dask",
            "runner.n_workers=2",
            "runner.sd_chunk_size=1",  # one key phrase per task: both workers generate
            f"runner.artifact_store=file://{root / 'store'}",
            f"runner.stage_dir={root / 'stage'}",
        ],
    )
    return {"root": root, "thread": thread, "dask": dask}


def _images(artifacts: Path) -> dict[str, tuple[str, bytes]]:
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        records = [r for r in catalog.records("images") if r.kind in ("sd", "sd_typo")]
    return {r.image_id: (r.path, (artifacts / r.path).read_bytes()) for r in records}


def test_sd_on_dask_matches_the_thread_runner(sd_runs: dict[str, Any]) -> None:
    root = sd_runs["root"]
    assert sd_runs["dask"]["samples_accepted"] == sd_runs["thread"]["samples_accepted"] == 4
    thread, dask = _images(root / "thread"), _images(root / "dask")
    # Two key phrases and their benign twins: an sd image and its sd_typo composite each.
    assert len(thread) == 8
    assert dask == thread


def test_store_holds_sd_images_and_composites(sd_runs: dict[str, Any]) -> None:
    root = sd_runs["root"]
    for path, data in _images(root / "dask").values():
        assert (root / "store" / path).read_bytes() == data, path


def test_gpu_limit_exists_with_no_slot_left_held(sd_runs: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(GPU_LIMIT)
    assert limit.limit == 1
    assert limit.active_slots == 0  # every chunk gave its slot back
