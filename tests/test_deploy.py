"""Deployments on a real `prefect server start`: the shipped prefect.yaml served by
`safetyforge deploy serve` registers scheduled runs; nightly-grow runs grow the benchmark and
publish auto versions, two overlapping runs on one artifacts folder take turns; review-cycle
runs against a real Label Studio server with scripted annotators; the project's global
concurrency limits live on that server."""

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

import datasets
import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from annotation import LabelStudioConfig, ServerHandle, connect, find_project
from annotation.client import export_tasks
from catalog import Catalog
from catalog.release import verify_release
from flows.artifacts_lock import artifacts_lock
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
    "grow": {"per_scenario": 1},
    "variants": ["text_only", "typo"],
    "render": {"workers": 1},
    "release": {"name": "deploy-bench", "version": "auto"},
}
NIGHTLY = "build_benchmark/nightly-grow"
CYCLE = "build_benchmark/review-cycle"


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
def served(
    server: dict[str, Any], label_studio: ServerHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """`safetyforge deploy serve` on the repository's prefect.yaml; yields its log file. Its
    runs reach the session's Label Studio server with its token, as review-cycle needs."""
    home = tmp_path_factory.mktemp("serve-home")
    env = {
        **os.environ,
        "PREFECT_API_URL": server["url"],
        "PREFECT_HOME": str(home),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "LABEL_STUDIO_API_KEY": label_studio.token,
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
        nightly = client.read_deployment_by_name(NIGHTLY)
        assert [s.schedule.cron for s in nightly.schedules] == ["0 3 * * *"]
        assert nightly.parameters["config"]["grow"] == {"per_scenario": 2}
        assert nightly.parameters["config"]["release"]["version"] == "auto"
        cycle = client.read_deployment_by_name(CYCLE)
        assert cycle.parameters["config"]["review"]["wait"] is False

        def scheduled() -> list[Any]:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id]))
            )
            return [r for r in runs if r.state is not None and r.state.is_scheduled()]

        runs = _wait(scheduled, "scheduled runs of the nightly deployment", 90)
    starts = {(r.expected_start_time.hour, r.expected_start_time.minute) for r in runs}
    assert starts == {(3, 0)}  # the cron's 03:00 UTC


def _run(deployment: str, config: dict[str, Any], served: Path) -> Any:
    """Trigger a run of `deployment` with `config` and wait until it completes."""
    run = run_deployment(deployment, parameters={"config": config}, timeout=300, poll_interval=1)
    assert run.state is not None and run.state.is_completed(), (
        run.state,
        served.read_text(errors="replace")[-3000:],
    )
    return run


def _summary_markdown(flow_run_id: Any) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    (markdown,) = [a.data for a in found if a.type == "markdown"]
    return markdown


def _runs(artifacts: Path) -> dict[str, Any]:
    """The catalog's run records by Prefect flow run id."""
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        return {r.flow_run_id: r for r in catalog.records("runs")}


def _waiting_for_the_lock(client: Any, flow_run_id: Any) -> bool:
    logs = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    )
    return any("waiting for the lock" in log.message for log in logs)


@pytest.fixture(scope="module")
def nightly(served: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two nightly-grow runs triggered together on one fresh folder, then one with nothing to
    add. Without the folder's lock both would build the initial set and publish 0.1.0. The test
    holds the lock until both runs have started and wait for it, so they overlap for sure."""
    artifacts = tmp_path_factory.mktemp("nightly") / "artifacts"
    config = {**TINY, "artifacts_dir": str(artifacts)}
    with (
        artifacts_lock(artifacts, "the test, until both runs wait"),
        get_client(sync_client=True) as client,
    ):
        triggered = [
            run_deployment(NIGHTLY, parameters={"config": config}, timeout=0) for _ in range(2)
        ]
        _wait(
            lambda: all(_waiting_for_the_lock(client, r.id) for r in triggered),
            "both runs waiting for the artifacts lock",
            300,
        )
    with get_client(sync_client=True) as client:

        def finished() -> list[Any]:
            runs = [client.read_flow_run(r.id) for r in triggered]
            return runs if all(r.state is not None and r.state.is_final() for r in runs) else []

        overlapping = _wait(finished, "two overlapping nightly-grow runs", 400)
    assert all(r.state.is_completed() for r in overlapping), [r.state for r in overlapping]
    idle = _run(NIGHTLY, {**config, "grow": {"per_scenario": 0}}, served)
    records = _runs(artifacts)
    first, second = sorted((records[str(r.id)] for r in overlapping), key=lambda r: r.started_at)
    return {"artifacts": artifacts, "first": first, "second": second, "idle": records[str(idle.id)]}


def test_overlapping_runs_take_turns_on_one_artifacts_folder(nightly: dict[str, Any]) -> None:
    first, second, artifacts = nightly["first"], nightly["second"], nightly["artifacts"]
    # Inside the lock the runs did not overlap: the second started after the first finished.
    assert first.finished_at <= second.started_at
    assert 0 < first.summary["lock_wait_s"] < second.summary["lock_wait_s"]
    assert second.summary["previous_run"] == first.run_id
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        assert catalog.release_versions("deploy-bench") == ["0.1.0", "0.2.0"]
        _, dupes = catalog.query(
            "SELECT run_id, sample_id, count(*) FROM samples GROUP BY ALL HAVING count(*) > 1"
        )
    assert dupes == []
    for version in ("0.1.0", "0.2.0"):
        assert verify_release(artifacts / "releases/deploy-bench" / version) == []
    assert not list((artifacts / "releases/deploy-bench").glob(".*"))  # no staging left over


def test_nightly_grow_runs_grow_the_benchmark(nightly: dict[str, Any]) -> None:
    runs = [nightly["first"], nightly["second"], nightly["idle"]]
    summaries = [r.summary for r in runs]
    assert all(r.status == "completed" for r in runs)
    assert [(s["release_status"], s["release_version"]) for s in summaries] == [
        ("published", "0.1.0"),
        ("published", "0.2.0"),
        ("unchanged", "0.2.0"),
    ]
    assert [(s["questions_kept"], s["questions_new"]) for s in summaries] == [
        (0, 2),
        (2, 1),
        (3, 0),
    ]
    assert summaries[2]["nothing_new"] is True
    grown = _summary_markdown(nightly["second"].flow_run_id)
    # The new question in two variants, and its benign twin in both (config contrast).
    assert "**Published 0.2.0: against 0.1.0, 4 sample(s) added, 0 removed, 0 changed.**" in grown
    assert "## Release diff: 0.1.0 -> 0.2.0" in grown
    assert "| fraud | typo | 1 | 0 | 0 |" in grown
    assert "| fraud | contrast/typo | 1 | 0 | 0 |" in grown
    nothing = _summary_markdown(nightly["idle"].flow_run_id)
    assert nothing.split("\n")[2].startswith("**Nothing new: ")
    assert "Release diff" not in nothing
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
    run = run_deployment(
        "build_benchmark/nightly-grow-pool", parameters={"config": config}, timeout=0
    )
    cli("worker", "start", "--pool", "safetyforge", "--run-once", cwd=tmp_path)
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.is_completed(), state
    with Catalog(tmp_path / "artifacts" / "catalog.duckdb", read_only=True) as catalog:
        (record,) = catalog.records("runs")
    assert record.flow_run_id == str(run.id) and record.status == "completed"


CORRECTED = "forge an official invoice"


def _choice(name: str, value: str) -> dict[str, Any]:
    return {
        "from_name": name,
        "to_name": "question",
        "type": "choices",
        "value": {"choices": [value]},
    }


def _annotate(ls: LabelStudioConfig, title: str, script: dict[str, list[dict[str, Any]]]) -> int:
    """Annotate every unannotated task whose question `script` names, with that result."""
    client = connect(ls)
    project = find_project(client, title)
    assert project is not None
    done = 0
    for task in export_tasks(client, project):
        result = script.get(task["data"]["question"])
        if result is not None and not task.get("annotations"):
            client.annotations.create(id=task["id"], result=result)
            done += 1
    return done


def test_review_cycle_publishes_what_annotators_accepted(
    served: Path, label_studio: ServerHandle, label_studio_root: Path
) -> None:
    """Four review-cycle runs with annotators working in between: the first pushes the
    questions; the second publishes the accepted one and sends a corrected key phrase back for
    review; the third publishes it once accepted; the fourth finds nothing new."""
    artifacts = label_studio_root / "review-cycle"  # the server serves files from its parent
    config = {
        "name": "cycle-test",
        "scenarios": ["fraud"],
        "questions_per_scenario": 3,
        "grow": {"per_scenario": 0},
        "variants": ["text_only", "typo"],
        "render": {"workers": 1},
        "artifacts_dir": str(artifacts),
        "review": {"mode": "label-studio", "wait": False, "label_studio_url": label_studio.url},
        "release": {"name": "cycle-bench", "version": "auto"},
    }
    ls = LabelStudioConfig(
        url=label_studio.url, api_key=label_studio.token, document_root=str(label_studio_root)
    )
    title = "safetyforge cycle-bench"  # one project for every run of the release

    pushed = _run(CYCLE, config, served)
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        _, rows = catalog.query(
            "SELECT DISTINCT question FROM samples WHERE twin_of IS NULL ORDER BY 1"
        )
    accepted, rejected, corrected = (row[0] for row in rows)
    assert (
        _annotate(
            ls,
            title,
            {
                accepted: [_choice("decision", "Accept")],
                rejected: [_choice("decision", "Reject"), _choice("reason", "Not harmful")],
                corrected: [
                    _choice("decision", "Accept"),
                    {
                        "from_name": "corrected_key_phrase",
                        "to_name": "question",
                        "type": "textarea",
                        "value": {"text": [CORRECTED]},
                    },
                ],
            },
        )
        == 3
    )
    first_release = _run(CYCLE, config, served)
    assert _annotate(ls, title, {corrected: [_choice("decision", "Accept")]}) == 1
    second_release = _run(CYCLE, config, served)
    idle = _run(CYCLE, config, served)

    runs = _runs(artifacts)
    s1, s2, s3, s4 = (
        runs[str(r.id)].summary for r in (pushed, first_release, second_release, idle)
    )
    assert (s1["release_status"], s1["review"]["tasks_pushed"], s1["samples_pending"]) == (
        "pending_review",
        3,
        6,
    )
    assert (s2["release_status"], s2["release_version"]) == ("published", "0.1.0")
    assert s2["review"] == {
        "tasks_pushed": 1,  # the re-rendered question goes back for review
        "annotator_decisions": 6,  # 3 annotations x 2 samples
        "corrected_key_phrases": 1,
        "samples_pending": 2,
    }
    assert (s3["release_status"], s3["release_version"]) == ("published", "0.2.0")
    assert s3["review"]["samples_pending"] == 0 and s3["review"]["tasks_pushed"] == 0
    assert (s4["release_status"], s4["release_version"], s4["nothing_new"]) == (
        "unchanged",
        "0.2.0",
        True,
    )
    releases = artifacts / "releases/cycle-bench"
    v1 = datasets.load_dataset(str(releases / "0.1.0"), "typo", split="test")
    v2 = datasets.load_dataset(str(releases / "0.2.0"), "typo", split="test")
    assert v1["question"] == [accepted]
    assert dict(zip(v2["question"], v2["key_phrase"], strict=True))[corrected] == CORRECTED
    assert rejected not in v2["question"] and len(v2) == 2
    # Benign twins are not reviewed by people; each is published with its accepted source.
    for version, typo in (("0.1.0", v1), ("0.2.0", v2)):
        twins = datasets.load_dataset(str(releases / version), "contrast", split="test")
        assert set(twins["question_id"]) == set(typo["question_id"])
    markdown = _summary_markdown(second_release.id)
    assert (  # the corrected question in two variants, and its twin in both
        "**Published 0.2.0: against 0.1.0, 4 sample(s) added, 0 removed, 0 changed.**" in markdown
    )
    assert "Label Studio: 0 task(s) pushed, 8 annotator decision(s)" in markdown
