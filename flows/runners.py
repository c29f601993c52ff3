"""The task runner a build maps its image work over, chosen by `runner` in the config.

`thread` (default) keeps everything in the flow's process; the render stage then uses the
typography package's own process pool, the fastest path on one machine. `process` maps chunks
over a local process pool; `dask` over a Dask cluster through prefect-dask: a LocalCluster of
`n_workers` processes on 127.0.0.1, or the scheduler at `address` (workers on other machines,
sharing files through the artifact store).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from schemas.config import RunnerConfig

T = TypeVar("T")


def make_task_runner(runner: RunnerConfig, artifacts: Path) -> TaskRunner[Any]:
    """A fresh, unstarted task runner; use it as a context manager inside the flow."""
    if runner.kind == "thread":
        return ThreadPoolTaskRunner()
    if runner.kind == "process":
        return ProcessPoolTaskRunner(max_workers=runner.n_workers)
    # Worker start/stop chatter at INFO would bury the build's own progress output; the
    # variable reaches worker processes, the logger level this one.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    from prefect_dask import DaskTaskRunner  # imports distributed: only when asked for

    if runner.address:
        return DaskTaskRunner(address=runner.address)
    scratch = Path(runner.local_directory) if runner.local_directory else artifacts / "dask"
    scratch.mkdir(parents=True, exist_ok=True)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": runner.n_workers,
            "threads_per_worker": 1,  # one render or SD job at a time per worker process
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
            "local_directory": str(scratch),
        },
    )


@contextmanager
def started_task_runner(runner: RunnerConfig, artifacts: Path) -> Iterator[TaskRunner[Any]]:
    """The configured task runner, started, with worker processes reporting to this flow's API.

    Without PREFECT_API_URL the flow talks to an ephemeral server of its own; a worker process
    that is not told its address starts another one (20-30 s each, measured), so the address
    is pinned in the settings the runners hand to their workers.
    """
    if not maps_over_workers(runner) or PREFECT_API_URL.value():
        with make_task_runner(runner, artifacts) as started:
            yield started
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    with (
        temporary_settings(updates={PREFECT_API_URL: url}),
        make_task_runner(runner, artifacts) as started,
    ):
        yield started


def maps_over_workers(runner: RunnerConfig) -> bool:
    """True when chunks run in separate worker processes (which must not start pools)."""
    return runner.kind != "thread"


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive chunks of at most `size` items, in order."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
