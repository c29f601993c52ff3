"""An image record's bytes: its own file, or its slice of a pack file (FigStep-Pro fragments)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

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


def own_file(record: ImageRecord) -> str:
    """Where a file holding only this image lives, relative to the artifacts directory: the
    record's own file, or for a packed image a sibling named after it (see `write_own_file`)."""
    if record.byte_range is None:
        return record.path
    pack = PurePosixPath(record.path)
    return pack.with_name(f"{record.image_id}{pack.suffix.rstrip('s')}").as_posix()


def write_own_file(artifacts_dir: Path, record: ImageRecord) -> Path:
    """Make `own_file(record)` exist, for tools that take a path or URL (Label Studio): a packed
    image's bytes are copied out of its pack once; other records' files are left as they are."""
    path = Path(artifacts_dir) / own_file(record)
    if record.byte_range is not None and not path.is_file():
        write_atomic(path, image_bytes(artifacts_dir, record))
    return path
