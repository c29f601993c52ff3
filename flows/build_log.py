"""A build's tracebacks go to a log file, so a fatal error is one line on stderr that names it.

Prefect logs a failed task's or flow's traceback at ERROR through the root logger's console
handler; for the run those records go to the file instead (warnings still show).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def build_log_path(artifacts: Path) -> Path:
    return artifacts / "logs" / f"build-{datetime.now(UTC):%Y%m%d-%H%M%S}.log"


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


@contextmanager
def tracebacks_to(path: Path) -> Iterator[None]:
    """ERROR records go to `path` (created on the first one) rather than the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, delay=True, encoding="utf-8")
    to_file.setLevel(logging.ERROR)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    shown = list(root.handlers)
    for handler in shown:
        handler.addFilter(_below_error)
    root.addHandler(to_file)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        to_file.close()
        for handler in shown:
            handler.removeFilter(_below_error)


def log_exception(path: Path, exc: BaseException) -> None:
    """Append the exception's traceback to the log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        traceback.print_exception(exc, file=out)
