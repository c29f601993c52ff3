"""How many worker processes (or threads) to run: the CPUs free now, not the core count.

On a machine other work keeps busy, a pool of one process per core is slower than fewer workers
(they fight the other work for the same cores and pay the pool's start and hand-over costs). The
choice samples the system's CPU use for a moment, subtracts this process's own, and keeps the
cores left over, at least one.
"""

from __future__ import annotations

import math
import os
import time

import psutil

from schemas._base import StrictModel

SAMPLE_S = 0.5


class WorkerChoice(StrictModel):
    workers: int  # what runs
    setting: int  # the configured count (0: choose from the free CPUs)
    cores: int  # CPUs this process may use
    busy_elsewhere: float | None = None  # cores in use by other processes while sampling
    load_average: float | None = None  # 1-minute load average, for the record


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_elsewhere(sample_s: float = SAMPLE_S) -> float:
    """Cores busy with other processes' work, measured over `sample_s` seconds."""
    me = psutil.Process()
    me.cpu_percent(None)
    psutil.cpu_percent(None)
    time.sleep(sample_s)
    total = psutil.cpu_percent(None) / 100 * psutil.cpu_count()
    return max(0.0, total - me.cpu_percent(None) / 100)


def choose_workers(setting: int, sample_s: float = SAMPLE_S) -> WorkerChoice:
    """`setting` when it is set (> 0); otherwise the cores other processes leave free, at least 1."""
    cores = usable_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if setting > 0:
        return WorkerChoice(workers=setting, setting=setting, cores=cores, load_average=load)
    busy = busy_elsewhere(sample_s)
    # A core counts as free when less than half of it is taken.
    workers = max(1, min(cores, math.floor(cores - busy + 0.5)))
    return WorkerChoice(
        workers=workers,
        setting=setting,
        cores=cores,
        busy_elsewhere=round(busy, 2),
        load_average=load,
    )
