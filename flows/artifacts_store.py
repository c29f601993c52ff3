"""The shared image store: an fsspec URL that workers on any machine write and the flow reads.

Files keep their relative path ("images/typo/ab/<id>.png") under the store as under the
artifacts folder. Workers draw into a local staging folder with the stage code unchanged (atomic
temp + rename on a local disk, ledgers for the cache), then `put` what they drew; the flow
`fetch`es what the run uses into its artifacts folder before review and publish, so the release
writer and Label Studio keep reading local files. The artifacts folder is thus a local cache of
the store. With no store configured the store *is* the artifacts folder: staging happens in
place and both calls do nothing, so the default single-machine build pays no copy.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from schemas.config import RunnerConfig
from schemas.records import ImageRecord


class StoreIntegrityError(RuntimeError):
    """A file fetched from the store does not have the sha256 its record names."""


@dataclass(frozen=True)
class ArtifactStore:
    url: str | None  # None: the artifacts folder itself

    @classmethod
    def from_config(cls, runner: RunnerConfig) -> ArtifactStore:
        return cls(runner.artifact_store.rstrip("/") if runner.artifact_store else None)

    @property
    def shared(self) -> bool:
        return self.url is not None

    def stage_dir(self, artifacts: Path, configured: str | None = None) -> Path:
        """Where workers draw before uploading: the artifacts folder itself for a local build."""
        if self.url is None:
            return artifacts
        if configured:
            return Path(configured)
        # Stable per store, so a worker that drew a file before finds it in its own cache.
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / "safetyforge-stage" / digest

    def put(self, local_root: Path, records: Iterable[ImageRecord]) -> int:
        """Upload the records' files that the store lacks; returns how many files were sent."""
        if self.url is None:
            return 0
        fs, root = fsspec.core.url_to_fs(self.url)
        sent = 0
        for path in dict.fromkeys(record.path for record in records):  # a pack holds several
            remote = f"{root}/{path}"
            if fs.exists(remote):  # content-addressed: present means identical
                continue
            _put_atomic(fs, local_root / path, remote)
            sent += 1
        return sent

    def fetch(self, local_root: Path, records: Iterable[ImageRecord]) -> int:
        """Download the records' files missing under `local_root`, checking the sha256 of every
        image a file holds (a pack holds several); returns how many files were downloaded."""
        if self.url is None:
            return 0
        fs, root = fsspec.core.url_to_fs(self.url)
        by_path: dict[str, list[ImageRecord]] = {}
        for record in records:
            by_path.setdefault(record.path, []).append(record)
        got = 0
        for path, held in by_path.items():
            local = local_root / path
            if local.is_file():
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex}.tmp")
            try:
                fs.get_file(f"{root}/{path}", str(tmp))
                data = tmp.read_bytes()
                for record in held:
                    offset, length = record.byte_range or (0, len(data))
                    digest = hashlib.sha256(data[offset : offset + length]).hexdigest()
                    if digest != record.sha256:
                        raise StoreIntegrityError(
                            f"{self.url}/{path}: {record.image_id} has sha256 {digest[:12]}, "
                            f"not the recorded {record.sha256[:12]}"
                        )
                tmp.replace(local)
            finally:
                tmp.unlink(missing_ok=True)
            got += 1
        return got


def _put_atomic(fs: fsspec.AbstractFileSystem, local: Path, remote: str) -> None:
    """Object stores publish an object whole; a shared folder needs temp + rename, or a killed
    upload would leave half a file that later runs take as present."""
    parent = remote.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    if not isinstance(fs, LocalFileSystem):
        fs.put_file(str(local), remote)
        return
    tmp = f"{parent}/.{uuid.uuid4().hex}.tmp"
    fs.put_file(str(local), tmp)
    fs.mv(tmp, remote)
