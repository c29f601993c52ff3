"""Content-addressed image files: ids from render inputs, PNG writes, and the render ledger.

Layout under the artifacts directory: images/<kind>/<id[:2]>/<id>.png for one image, and
<id>.pngs for a FigStep-Pro set: its fragments' PNG files back to back, each record naming its
byte range (schemas.images reads them). Which jobs are finished is kept in a ledger,
images/<kind>/_ledger/<host>-<pid>.jsonl: each process appends one line per job once all of its
images are written, so a line means the job's files are complete. One line per job instead of
one sidecar file per job: on this project's reference disk, creating a file costs far more than
appending a line, and small FigStep-Pro fragments were dominated by file creation.
"""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import uuid
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from schemas._base import StrictModel
from schemas.files import create_in_folder, write_atomic
from schemas.records import ImageRecord

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LEDGER_DIR = "_ledger"
# Merge the ledger's files into one when a reader finds more than this many (one per process).
_LEDGER_MAX_FILES = 64
_JOB_ID = re.compile(rb'^\{"job_id":"([^"]+)"')


class LedgerEntry(StrictModel):
    job_id: str
    images: list[ImageRecord]


def kind_dir(artifacts_dir: Path, kind: str) -> Path:
    return Path(artifacts_dir) / "images" / kind


def job_dir(artifacts_dir: Path, kind: str, job_id: str) -> Path:
    return kind_dir(artifacts_dir, kind) / job_id[:2]


class Ledger:
    """The finished jobs of one image kind under an artifacts directory.

    Read once, lazily, when first asked; `append` records a finished job at once (one write of
    one line to this process's file, so a killed run keeps every job it finished and at worst
    loses a torn last line, whose job is then drawn again)."""

    def __init__(self, artifacts_dir: Path, kind: str) -> None:
        self.artifacts_dir = Path(artifacts_dir)
        self.folder = kind_dir(self.artifacts_dir, kind) / _LEDGER_DIR
        self._lines: dict[str, bytes] | None = None

    def _load(self) -> dict[str, bytes]:
        if self._lines is None:
            files = sorted(self.folder.glob("*.jsonl")) if self.folder.is_dir() else []
            lines: dict[str, bytes] = {}
            for path in files:
                for line in path.read_bytes().splitlines():
                    match = _JOB_ID.match(line)
                    if match:
                        lines[match.group(1).decode()] = line
            if len(files) > _LEDGER_MAX_FILES:
                self._compact(files, lines)
            self._lines = lines
        return self._lines

    def _compact(self, files: list[Path], lines: dict[str, bytes]) -> None:
        # A writer still appending to a merged file may lose lines: those jobs are drawn again.
        merged = self.folder / f"merged-{uuid.uuid4().hex[:12]}.jsonl"
        write_atomic(merged, b"".join(line + b"\n" for line in lines.values()))
        for path in files:
            if path != merged:
                path.unlink(missing_ok=True)

    def known(self, job_id: str) -> bool:
        """True when the ledger has a line for the job (its files may since have gone)."""
        return job_id in self._load()

    def lookup(self, job_id: str) -> list[ImageRecord] | None:
        """The job's records when its line is valid and every image it lists exists, else None."""
        line = self._load().get(job_id)
        if line is None:
            return None
        try:
            records = LedgerEntry.model_validate_json(line).images
        except ValueError:
            return None
        if not records or not all((self.artifacts_dir / r.path).is_file() for r in records):
            return None
        return records

    def append(self, job_id: str, records: list[ImageRecord]) -> None:
        entry = LedgerEntry(job_id=job_id, images=records)
        line = entry.model_dump_json().encode() + b"\n"
        path = self.folder / f"{socket.gethostname()}-{os.getpid()}.jsonl"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        fd = create_in_folder(path, lambda p: os.open(p, flags, 0o644))
        try:
            os.write(fd, line)  # one write with O_APPEND: lines of processes never interleave
        finally:
            os.close(fd)
        if self._lines is not None:
            self._lines[job_id] = line.rstrip(b"\n")


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: Image.Image, compress_level: int) -> bytes:
    """Lossless PNG bytes with zlib's RLE strategy, which suits text on a plain background.
    Grayscale images (every typography image) are written directly with unfiltered rows:
    Pillow's per-row adaptive filter search is half the cost of a render, and here it buys
    nothing (same size within a few %). Other modes go through Pillow."""
    if image.mode != "L":
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=compress_level, compress_type=zlib.Z_RLE)
        return buffer.getvalue()
    rows = np.zeros((image.height, image.width + 1), dtype=np.uint8)  # column 0: filter "none"
    rows[:, 1:] = np.asarray(image)
    compressor = zlib.compressobj(compress_level, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = compressor.compress(rows.tobytes()) + compressor.flush()
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, 0, 0, 0, 0)  # 8-bit gray
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def write_file(path: Path, data: bytes, *, atomic: bool) -> None:
    """Write one image file.

    A first draw writes in place: no ledger line vouches for the job until all its files are
    written, and a temporary file plus rename doubles the file-system cost. A redraw (`atomic`:
    a ledger line already names the file) goes through temp + rename, so a kill can never leave
    a torn file under a name the ledger trusts."""
    if atomic:
        write_atomic(path, data)
    else:
        create_in_folder(path, lambda p: p.write_bytes(data))
