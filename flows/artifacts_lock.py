"""One writer at a time per artifacts folder: an exclusive lock held for a whole build or publish.

Two runs on one folder (two scheduled deployments, a schedule and a manual `safetyforge
publish`) would otherwise race on the DuckDB catalog, which takes one writer per file, and could
both pick the same next release version. The lock is an advisory `flock` on
`<artifacts>/.safetyforge.lock`: the kernel releases it when its holder exits or dies, so a
killed run never leaves a stale lock behind. A waiting run says who holds the lock (the holder
writes its description into the file). Local file systems only: flock over NFS is unreliable.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = ".safetyforge.lock"


@contextmanager
def artifacts_lock(
    artifacts: Path,
    holder: str,
    say: Callable[[str], None] = print,
    poll_s: float = 0.5,
    report_every_s: float = 60.0,
) -> Iterator[float]:
    """Hold the folder's lock for the block; yields the seconds spent waiting for it.

    `holder` describes this process to the ones that wait (e.g. "build run 2026...");
    `say` is told, when waiting starts and then every `report_every_s`, who holds the lock.
    """
    artifacts.mkdir(parents=True, exist_ok=True)
    path = artifacts / LOCK_FILE
    started = time.monotonic()
    with path.open("a+", encoding="utf-8") as handle:
        reported: float | None = None
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if reported is None or now - reported >= report_every_s:
                    handle.seek(0)
                    who = handle.read().strip() or "another process"
                    say(f"waiting for the lock on {artifacts}: held by {who}")
                    reported = now
                time.sleep(poll_s)
        waited = time.monotonic() - started
        handle.truncate(0)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"{holder} (pid {os.getpid()} on {socket.gethostname()}, since {since})\n")
        handle.flush()
        try:
            yield waited
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
