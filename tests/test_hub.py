"""Hub upload at the HfApi boundary: a recording fake stands in for the network."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from release_data import make_inputs

from catalog.hub import HubError, hub_api_from_env, push_release

SECRET = "hf_secretTOKEN0123456789abcdef"


class RecordingHfApi:
    """Records every call the way `HfApi` would receive it; holds a token like the real one."""

    def __init__(self, token: str, tags: tuple[str, ...] = ()) -> None:
        self.token = token
        self.tags = tags
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.uploaded: list[str] = []

    def create_repo(self, repo_id: str, **kwargs: Any) -> Any:
        self.calls.append(("create_repo", (repo_id,), kwargs))
        return f"https://huggingface.co/datasets/{repo_id}"

    def update_repo_settings(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("update_repo_settings", (repo_id,), kwargs))

    def list_repo_refs(self, repo_id: str, **kwargs: Any) -> Any:
        self.calls.append(("list_repo_refs", (repo_id,), kwargs))
        return SimpleNamespace(tags=[SimpleNamespace(name=t) for t in self.tags], branches=[])

    def upload_folder(self, **kwargs: Any) -> Any:
        self.calls.append(("upload_folder", (), kwargs))
        folder = Path(kwargs["folder_path"])
        self.uploaded = sorted(
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
        )
        return SimpleNamespace(oid="c0ffee" * 6 + "beef", commit_url="https://hf.co/commit/c0ffee")

    def create_tag(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_tag", (repo_id,), kwargs))


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    inputs = make_inputs(root / "artifacts")
    record = inputs.write(root / "releases", version="1.2.0")
    return Path(record.path)


def test_push_makes_private_gated_repo_one_commit_and_a_tag(
    release_dir: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    api = RecordingHfApi(SECRET)
    with caplog.at_level(logging.DEBUG):
        pushed = push_release(release_dir, "org/bench", api)
    oid = "c0ffee" * 6 + "beef"
    assert api.calls == [
        (
            "create_repo",
            ("org/bench",),
            {"repo_type": "dataset", "private": True, "exist_ok": True},
        ),
        (
            "update_repo_settings",
            ("org/bench",),
            {"repo_type": "dataset", "private": True, "gated": "manual"},
        ),
        ("list_repo_refs", ("org/bench",), {"repo_type": "dataset"}),
        (
            "upload_folder",
            (),
            {
                "repo_id": "org/bench",
                "repo_type": "dataset",
                "folder_path": str(release_dir),
                "commit_message": "Release v1.2.0",
                "delete_patterns": ["*"],
            },
        ),
        (
            "create_tag",
            ("org/bench",),
            {
                "repo_type": "dataset",
                "tag": "v1.2.0",
                "revision": oid,
                "tag_message": "Release v1.2.0",
            },
        ),
    ]
    assert "MANIFEST.json" in api.uploaded and "README.md" in api.uploaded
    assert any(
        name.startswith("data/figstep_pro/test-") and name.endswith("-00000-of-00001.parquet")
        for name in api.uploaded
    )
    assert (pushed.tag, pushed.commit_oid, pushed.private, pushed.gated) == (
        "v1.2.0",
        oid,
        True,
        "manual",
    )
    # The token never leaves the api object: not in calls, logs, output or the release files.
    assert SECRET not in repr(api.calls)
    assert SECRET not in caplog.text
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert all(SECRET.encode() not in p.read_bytes() for p in release_dir.rglob("*") if p.is_file())


def test_an_existing_tag_is_refused_before_any_upload(release_dir: Path) -> None:
    api = RecordingHfApi(SECRET, tags=("v1.2.0",))
    with pytest.raises(HubError, match="already has tag v1.2.0"):
        push_release(release_dir, "org/bench", api)
    assert [c[0] for c in api.calls] == ["create_repo", "update_repo_settings", "list_repo_refs"]


def test_a_tampered_release_is_refused_before_touching_the_hub(
    release_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(release_dir, copy)
    (copy / "README.md").write_text("edited")
    api = RecordingHfApi(SECRET)
    with pytest.raises(HubError, match="README.md: sha256 differs"):
        push_release(copy, "org/bench", api)
    assert api.calls == []


def test_public_ungated_settings_are_passed_through(release_dir: Path) -> None:
    api = RecordingHfApi(SECRET)
    push_release(release_dir, "org/open", api, private=False, gated=False)
    assert api.calls[0][2]["private"] is False
    assert api.calls[1][2] == {"repo_type": "dataset", "private": False, "gated": False}


def test_token_comes_from_hf_token_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(HubError, match="HF_TOKEN"):
        hub_api_from_env({"HUGGING_FACE_HUB_TOKEN": SECRET})
    api = hub_api_from_env({"HF_TOKEN": f" {SECRET}\n"})
    assert api.token == SECRET  # type: ignore[attr-defined]
    monkeypatch.setenv("HF_TOKEN", SECRET)
    assert hub_api_from_env().token == SECRET  # type: ignore[attr-defined]
