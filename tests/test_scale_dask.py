"""The build flow on a Dask LocalCluster of 2 worker processes, sharing files through an fsspec
store, and on a local process pool, gives the same images (byte for byte) and catalog records as
the default thread runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog import Catalog
from flows.run_report import COUNTS_KEY, SUMMARY_KEY
from flows.runners import started_task_runner
from schemas.config import RunnerConfig, load_config

TABLES = ("questions", "extractions", "samples", "reviews", "images")
# Differ between any two runs by design: which run, and when.
VOLATILE = {"run_id", "created_at", "decided_at", "started_at", "finished_at", "flow_run_id"}
BASE = [
    "scenarios=[fraud, malware_generation, health_consultation]",
    "questions_per_scenario=2",
    "release.name=scale-bench",
    "render.workers=1",
]


def _build(artifacts: Path, extra: list[str]) -> dict[str, Any]:
    from flows.build import build_benchmark

    cfg = load_config(None, [f"artifacts_dir={artifacts}", *BASE, *extra])
    state = build_benchmark(config=cfg.model_dump(mode="json"), return_state=True)
    return {"summary": state.result(), "flow_run_id": str(state.state_details.flow_run_id)}


@pytest.fixture(scope="module")
def runs(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("scale")
    thread = _build(root / "thread", [])
    dask = _build(
        root / "dask",
        [
            "runner.kind=dask",
            "runner.n_workers=2",
            "runner.chunk_size=5",  # 18 render jobs -> 4 chunks over the 2 workers
            f"runner.artifact_store=file://{root / 'store'}",
            f"runner.stage_dir={root / 'stage'}",
        ],
    )
    process = _build(
        root / "process", ["runner.kind=process", "runner.n_workers=2", "runner.chunk_size=5"]
    )
    return {"root": root, "thread": thread, "dask": dask, "process": process}


def _pngs(folder: Path) -> dict[str, bytes]:
    """Image files (FigStep-Pro packs included) by relative path."""
    files = [p for p in folder.rglob("*") if p.suffix in (".png", ".pngs")]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def _rows(artifacts: Path, table: str) -> list[dict[str, Any]]:
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        rows = [r.model_dump(mode="json", exclude=VOLATILE) for r in catalog.records(table)]
    return sorted(rows, key=repr)


@pytest.mark.parametrize("kind", ["dask", "process"])
def test_mapped_run_completes_and_draws_everything(runs: dict[str, Any], kind: str) -> None:
    thread, mapped = runs["thread"]["summary"], runs[kind]["summary"]
    assert mapped["release_status"] == thread["release_status"] == "published"
    assert mapped["images_drawn"] == thread["images_drawn"] == 36  # benign twins included
    assert mapped["counts"] == thread["counts"]


def test_images_are_byte_identical(runs: dict[str, Any]) -> None:
    root = runs["root"]
    reference = _pngs(root / "thread" / "images")
    assert any(name.endswith(".pngs") for name in reference)  # FigStep-Pro packs
    assert len(reference) > 12
    # Workers drew in their staging folder, put to the store; the flow fetched what it uses.
    assert _pngs(root / "store" / "images") == reference
    assert _pngs(root / "dask" / "images") == reference
    assert _pngs(root / "process" / "images") == reference


@pytest.mark.parametrize("kind", ["dask", "process"])
@pytest.mark.parametrize("table", TABLES)
def test_catalog_records_are_identical(runs: dict[str, Any], table: str, kind: str) -> None:
    root = runs["root"]
    thread_rows = _rows(root / "thread", table)
    assert thread_rows and thread_rows == _rows(root / kind, table)


def test_release_files_match(runs: dict[str, Any]) -> None:
    root = runs["root"]
    thread = root / "thread" / "releases" / "scale-bench" / "0.1.0" / "data"
    dask = root / "dask" / "releases" / "scale-bench" / "0.1.0" / "data"
    assert _pngs(thread) == _pngs(dask)  # no loose files: images are embedded in parquet
    for part in thread.rglob("*.parquet"):
        assert part.read_bytes() == (dask / part.relative_to(thread)).read_bytes(), part


def test_runs_record_flow_run_and_artifacts(runs: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        for name in ("thread", "dask", "process"):
            artifacts = runs["root"] / name
            with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
                (run,) = catalog.records("runs")
            assert run.flow_run_id == runs[name]["flow_run_id"]
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[run.flow_run_id])
                )
            )
            by_key = {a.key: a for a in found}
            assert set(by_key) == {SUMMARY_KEY, COUNTS_KEY}
            assert run.run_id in str(by_key[SUMMARY_KEY].data)
            assert "samples_accepted" in str(by_key[COUNTS_KEY].data)


@task(cache_policy=NO_CACHE, persist_result=False)
def _api_url_seen_by_worker() -> str | None:
    return PREFECT_API_URL.value()


def test_workers_report_to_the_flows_ephemeral_api(prefect_api: None, tmp_path: Path) -> None:
    """Regression: with no PREFECT_API_URL, each worker process started an ephemeral server of
    its own (20-30 s, and its task runs went elsewhere) instead of using the flow's."""
    with get_client(sync_client=True) as client:
        flows_api = str(client.api_url)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert PREFECT_API_URL.value() is None  # the CLI's ephemeral mode
        runner = RunnerConfig(kind="process", n_workers=1)
        with started_task_runner(runner, tmp_path) as started:
            seen = started.submit(_api_url_seen_by_worker, {}).result()
    assert seen is not None and seen.rstrip("/") == flows_api.rstrip("/")
