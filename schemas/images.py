"""An image record's bytes: its own file, or its slice of a pack file (FigStep-Pro fragments)."""

from __future__ import annotations

from pathlib import Path

from schemas.files import write_atomic
from schemas.records import ImageRecord


def image_bytes(artifacts_dir: Path, record: ImageRecord) -> bytes:
    """The image's encoded bytes (a complete PNG for typography)."""
    path = Path(artifacts_dir) / record.path
    if record.byte_range is None:
        return path.read_bytes()
    offset, length = record.byte_range
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    if len(data) != length:
        raise OSError(f"{path} ends before byte {offset + length}: a truncated pack")
    return data


def image_file(artifacts_dir: Path, record: ImageRecord) -> Path:
    """A file holding only this image, for tools that take a path or URL (Label Studio): the
    record's own file, or for a packed image a copy of its bytes beside the pack, made once."""
    path = Path(artifacts_dir) / record.path
    if record.byte_range is None:
        return path
    single = path.with_name(f"{record.image_id}.png")
    if not single.is_file():
        write_atomic(single, image_bytes(artifacts_dir, record))
    return single
