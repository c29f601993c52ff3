"""Crash-safe file writes shared by every stage that stores files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temp_beside(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileNotFoundError:
        # Create the folder only when missing: a mkdir per write costs a syscall per file.
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


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
