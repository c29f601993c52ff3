"""Content-addressed image files: ids from render inputs, atomic PNG writes, JSON sidecars.

Layout under the artifacts directory: images/<kind>/<id[:2]>/<id>.png for one image and
<id>_<n>.png for FigStep-Pro fragments, plus <id>.json (the sidecar) listing the ImageRecords.
The sidecar is written last, so its presence means every file of the job is complete.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import TypeAdapter

from schemas.files import write_atomic
from schemas.records import ImageRecord

_SIDECAR = TypeAdapter(list[ImageRecord])
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def job_dir(artifacts_dir: Path, kind: str, job_id: str) -> Path:
    return artifacts_dir / "images" / kind / job_id[:2]


def sidecar_path(artifacts_dir: Path, kind: str, job_id: str) -> Path:
    return job_dir(artifacts_dir, kind, job_id) / f"{job_id}.json"


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


def write_png(image: Image.Image, path: Path, compress_level: int) -> str:
    """Save lossless PNG; returns the sha256 of the bytes written.

    Written in place, not via a temporary file: the job's sidecar is the commit marker (removed
    by `start_job` before, written atomically after all its images), and a temp file plus rename
    per image doubled the file-system cost, which dominates small FigStep-Pro fragments."""
    data = encode_png(image, compress_level)
    try:
        path.write_bytes(data)
    except FileNotFoundError:  # first file of its folder: a mkdir per image costs a syscall each
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def start_job(sidecar: Path) -> None:
    """Forget a stale sidecar before redrawing its images, so that an interrupted redraw can
    never leave a sidecar vouching for half-written files."""
    sidecar.unlink(missing_ok=True)


def write_sidecar(path: Path, records: list[ImageRecord]) -> None:
    write_atomic(path, _SIDECAR.dump_json(records, indent=1))


def read_sidecar(path: Path, artifacts_dir: Path) -> list[ImageRecord] | None:
    """The job's records when the sidecar and every image it lists exist, else None (redraw)."""
    try:
        records = _SIDECAR.validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not records or not all((artifacts_dir / r.path).is_file() for r in records):
        return None
    return records
