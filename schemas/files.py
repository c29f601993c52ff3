"""Crash-safe file writes shared by every stage that stores files."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def create_in_folder(path: Path, create: Callable[[Path], T]) -> T:
    """`create(path)`, making the folder of `path` first only when it is missing: a mkdir per
    file costs a syscall per file, which counts when a stage writes thousands of small ones."""
    try:
        return create(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return create(path)


def _temp_beside(path: Path) -> tuple[int, str]:
    return create_in_folder(
        path, lambda p: tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder and rename: a killed run leaves either the
    old state or the complete file, never half a file under the final name."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def install_lock(folder: Path, name: str) -> Iterator[None]:
    """Serialise installs into a per-machine cache folder across processes (parallel test
    sessions, two terminals): an exclusive lock on `folder/<name>.lock`."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
