"""The fsspec artifact store: put what workers drew, fetch what the flow needs, checked by sha256."""

from __future__ import annotations

from pathlib import Path

import pytest
from variant_jobs import spec_job

from flows.artifacts_store import ArtifactStore, StoreIntegrityError
from schemas.config import RunnerConfig
from schemas.records import ImageRecord
from typography import render_jobs


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ImageRecord]]:
    stage = tmp_path_factory.mktemp("stage")
    jobs = [
        spec_job("typo", "counterfeit coins"),
        spec_job("figstep_pro", "forged passports"),
    ]
    outcomes = render_jobs(jobs, stage, workers=1)
    return stage, [image for outcome in outcomes for image in outcome.images]


def test_default_store_is_the_artifacts_folder(
    drawn: tuple[Path, list[ImageRecord]], tmp_path: Path
) -> None:
    store = ArtifactStore.from_config(RunnerConfig())
    stage, records = drawn
    assert not store.shared
    assert store.stage_dir(tmp_path) == tmp_path
    assert store.put(stage, records) == 0
    assert store.fetch(tmp_path, records) == 0
    assert not any(tmp_path.iterdir())  # nothing copied anywhere


def test_put_then_fetch_round_trips_bytes(
    drawn: tuple[Path, list[ImageRecord]], tmp_path: Path
) -> None:
    stage, records = drawn
    store = ArtifactStore.from_config(RunnerConfig(artifact_store=f"file://{tmp_path}/store/"))
    files = {record.path for record in records}
    assert len(records) == 4 and len(files) == 2  # typo; figstep_pro: 3 fragments in one pack
    assert store.put(stage, records) == len(files)
    assert store.put(stage, records) == 0  # content-addressed: present means identical
    assert not list((tmp_path / "store").rglob("*.tmp"))
    local = tmp_path / "flow-artifacts"
    assert store.fetch(local, records) == len(files)
    for record in records:
        assert (local / record.path).read_bytes() == (stage / record.path).read_bytes()
    assert store.fetch(local, records) == 0


def test_fetch_refuses_a_file_whose_bytes_changed(
    drawn: tuple[Path, list[ImageRecord]], tmp_path: Path
) -> None:
    stage, records = drawn
    store = ArtifactStore(f"file://{tmp_path}/store")
    store.put(stage, records[:1])
    (tmp_path / "store" / records[0].path).write_bytes(b"not the png")
    local = tmp_path / "flow-artifacts"
    with pytest.raises(StoreIntegrityError, match="sha256"):
        store.fetch(local, records[:1])
    assert not (local / records[0].path).exists()
    assert not list(local.rglob("*.tmp"))


def test_remote_stores_stage_in_a_stable_folder_of_their_own(tmp_path: Path) -> None:
    a, b = ArtifactStore("s3://bucket/a"), ArtifactStore("s3://bucket/b")
    assert a.stage_dir(tmp_path) == ArtifactStore("s3://bucket/a").stage_dir(tmp_path)
    assert a.stage_dir(tmp_path) != b.stage_dir(tmp_path) != tmp_path
    assert a.stage_dir(tmp_path, str(tmp_path / "stage")) == tmp_path / "stage"


def test_fetch_checks_every_image_of_a_pack(
    drawn: tuple[Path, list[ImageRecord]], tmp_path: Path
) -> None:
    stage, records = drawn
    fragments = [r for r in records if r.byte_range is not None]
    store = ArtifactStore(f"file://{tmp_path}/store")
    store.put(stage, fragments)
    remote = tmp_path / "store" / fragments[0].path
    data = bytearray(remote.read_bytes())
    offset, length = fragments[-1].byte_range or (0, 0)
    data[offset + length - 5] ^= 0xFF  # damage only the last fragment
    remote.write_bytes(bytes(data))
    with pytest.raises(StoreIntegrityError, match=fragments[-1].image_id):
        store.fetch(tmp_path / "flow-artifacts", fragments)
