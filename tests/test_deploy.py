"""Deployments on a real `prefect server start`: the shipped prefect.yaml served by
`safetyforge deploy serve` registers scheduled runs, a triggered run completes, and the
project's global concurrency limits live on that server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog import Catalog
from flows.deploy import load_deployments
from flows.limits import GPU_LIMIT, LLM_LIMIT, GloballyPacedProvider, ensure_limits
from generators.llm_types import ChatRequest
from generators.providers import make_provider
from schemas.config import load_config
from schemas.prompts import render_prompt
from schemas.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {
    "name": "deploy-test",
    "scenarios": ["fraud"],
    "questions_per_scenario": 2,
    "variants": ["text_only", "typo"],
    "render": {"workers": 1},
    "release": {"name": "deploy-bench"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, what: str, deadline_s: float, proc: subprocess.Popen[bytes] | None = None):
    """Poll `check()` until it returns something truthy; fail with `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited with {proc.returncode}")
        if found := check():
            return found
        time.sleep(0.5)
    pytest.fail(f"{what}: not after {deadline_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`prefect server start` on 127.0.0.1 and a free port (~23 s), with its own PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, "prefect server health", 120, proc)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield {"url": url, "home": home}
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def served(server: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`safetyforge deploy serve` on the repository's prefect.yaml; yields its log file."""
    home = tmp_path_factory.mktemp("serve-home")
    env = {
        **os.environ,
        "PREFECT_API_URL": server["url"],
        "PREFECT_HOME": str(home),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    }
    log_path = home / "serve.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(BIN / "safetyforge"), "deploy", "serve", "--file", str(REPO / "prefect.yaml")],
        env=env,
        cwd=home,  # serving must not depend on the caller's directory
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with get_client(sync_client=True) as client:
            names = {spec.name for spec in load_deployments(REPO / "prefect.yaml")}

            def registered() -> bool:
                return {d.name for d in client.read_deployments()} >= names

            _wait(registered, "served deployments registered", 120, proc)
        yield log_path
    finally:
        _stop(proc)
        log.close()


def test_schedule_creates_scheduled_runs(served: Path) -> None:
    with get_client(sync_client=True) as client:
        nightly = client.read_deployment_by_name("build_benchmark/nightly")
        assert [s.schedule.cron for s in nightly.schedules] == ["0 3 * * *"]
        assert nightly.parameters["config"]["name"] == "nightly"

        def scheduled() -> list[Any]:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id]))
            )
            return [r for r in runs if r.state is not None and r.state.is_scheduled()]

        runs = _wait(scheduled, "scheduled runs of the nightly deployment", 90)
    starts = {(r.expected_start_time.hour, r.expected_start_time.minute) for r in runs}
    assert starts == {(3, 0)}  # the cron's 03:00 UTC


def test_triggered_run_completes(served: Path, tmp_path: Path) -> None:
    config = {**TINY, "artifacts_dir": str(tmp_path / "artifacts")}
    run = run_deployment(
        "build_benchmark/nightly", parameters={"config": config}, timeout=300, poll_interval=2
    )
    assert run.state is not None and run.state.is_completed(), (
        run.state,
        served.read_text(errors="replace")[-3000:],
    )
    with Catalog(tmp_path / "artifacts" / "catalog.duckdb", read_only=True) as catalog:
        (record,) = catalog.records("runs")
    assert record.status == "completed"
    assert record.flow_run_id == str(run.id)
    assert record.summary["samples_accepted"] == 4
    with get_client(sync_client=True) as client:
        # The flow created the GPU limit on the server it reported to.
        assert client.read_global_concurrency_limit_by_name(GPU_LIMIT).limit == 1


def _requests(n: int) -> list[ChatRequest]:
    scenario = load_taxonomy("mm-safetybench").scenario("fraud")
    out = []
    for sample in range(n):
        rendered = render_prompt("questions", scenario, n=2, avoid=[])
        out.append(
            ChatRequest(
                stage="questions",
                scenario=scenario.slug,
                messages=rendered.messages,
                prompt=rendered.provenance,
                sample=sample,
                context={"scenario": scenario.slug, "kind": scenario.kind, "n": 2, "avoid": []},
            )
        )
    return out


def test_llm_requests_draw_from_the_global_rate_limit(server: dict[str, Any]) -> None:
    cfg = load_config(None, ["llm.provider=openai", "llm.requests_per_minute=5", "runner.gpus=2"])
    assert ensure_limits(cfg) == [GPU_LIMIT, LLM_LIMIT]
    offline = make_provider(load_config(None, []).llm)
    paced = GloballyPacedProvider(offline, LLM_LIMIT, batch=2)
    requests = _requests(3)
    seen: dict[int, Any] = {}
    results = paced.complete_many(requests, lambda i, r: seen.__setitem__(i, r))
    assert [r.text for r in results] == [r.text for r in offline.complete_many(requests)]
    assert sorted(seen) == [0, 1, 2]
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(LLM_LIMIT)
        gpu = client.read_global_concurrency_limit_by_name(GPU_LIMIT)
    assert (limit.limit, limit.slot_decay_per_second) == (5, pytest.approx(5 / 60))
    # 3 slots taken; they decay at one per 12 s, so at least two are still held.
    assert limit.active_slots >= 2
    assert gpu.limit == 2


def test_work_pool_deployment_runs_on_a_process_worker(
    server: dict[str, Any], tmp_path: Path
) -> None:
    """The team path of the README: work pool, `prefect deploy --all`, a process worker."""
    env = {**os.environ, "PREFECT_API_URL": server["url"], "PREFECT_HOME": str(server["home"])}
    prefect = str(BIN / "prefect")
    # The served deployments above already own these names: register renamed copies.
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        deployment["name"] += "-pool"
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(spec))

    def cli(*args: str, cwd: Path = REPO) -> None:
        subprocess.run(
            [prefect, *args], env=env, cwd=cwd, check=True, capture_output=True, timeout=180
        )

    cli("work-pool", "create", "safetyforge", "--type", "process")
    cli("--no-prompt", "deploy", "--all", "--prefect-file", str(tmp_path / "prefect.yaml"))
    config = {**TINY, "artifacts_dir": str(tmp_path / "artifacts")}
    run = run_deployment("build_benchmark/nightly-pool", parameters={"config": config}, timeout=0)
    cli("worker", "start", "--pool", "safetyforge", "--run-once", cwd=tmp_path)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.is_completed(), state
    with Catalog(tmp_path / "artifacts" / "catalog.duckdb", read_only=True) as catalog:
        (record,) = catalog.records("runs")
    assert record.flow_run_id == str(run.id) and record.status == "completed"
