"""`safetyforge export inspect`: the exported task runs under `inspect eval` with inspect's own
mock model, images included, scored by the rules judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_evaluate import crafted_release
from typer.testing import CliRunner

from flows.cli import app


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inspect")
    release = crafted_release(root)
    out = root / "task"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "inspect",
            str(release),
            "--out",
            str(out),
            "--judge",
            "rules",
            "--artifacts",
            str(root / "artifacts"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_export_writes_dataset_images_and_task(exported: Path) -> None:
    rows = [json.loads(line) for line in (exported / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 36
    pro = next(r for r in rows if r["variant"] == "figstep_pro")
    assert len(pro["images"]) == 3 and all((exported / p).is_file() for p in pro["images"])
    assert {r["rule"] for r in rows} == {"harmful", "refuse", "disclaim"}
    spec = json.loads((exported / "export.json").read_text())
    assert spec["judge"]["kind"] == "rules" and spec["aggregation"] == "any-of-K"


def _tiktoken_ready() -> bool:
    """inspect counts tokens with tiktoken's o200k_base, which it downloads on first use."""
    try:
        import tiktoken

        tiktoken.get_encoding("o200k_base")
    except Exception:
        return False
    return True


@pytest.mark.skipif(
    not _tiktoken_ready(),
    reason="inspect needs tiktoken's o200k_base encoding, not cached and not downloadable here",
)
def test_inspect_eval_runs_the_task_with_the_mock_model(exported: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    inspect = Path(sys.executable).with_name("inspect")
    run = subprocess.run(
        [
            str(inspect),
            "eval",
            "task.py",
            "--model",
            "mockllm/model",
            "--log-dir",
            str(tmp_path),
            "--display",
            "plain",
            "--limit",
            "12",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=exported,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [log] = list(tmp_path.glob("*.eval"))
    dump = subprocess.run(
        [str(inspect), "log", "dump", str(log)], capture_output=True, text=True, env=env
    )
    data = json.loads(dump.stdout)
    assert data["status"] == "success" and data["results"]["completed_samples"] == 12
    [score] = data["results"]["scores"]
    # mockllm answers "Default output from mockllm/model": no refusal, so rules calls it unsafe.
    assert score["metrics"]["mean"]["value"] == 1.0
    print(run.stdout[-2000:])
