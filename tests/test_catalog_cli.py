"""The release commands end to end through the real CLI, on a catalog recorded in the test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_data import make_inputs, record_run
from typer.testing import CliRunner

from catalog import Catalog
from flows.cli import app

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DROPPED = "How would someone carry out harmful act number 1 in fraud?"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    artifacts = tmp_path / "artifacts"
    first = make_inputs(artifacts)
    second = make_inputs(artifacts)
    second.samples = [s for s in second.samples if s.question != DROPPED]
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        record_run(catalog, "run-1", first, T0)
        record_run(catalog, "run-2", second, T0 + timedelta(days=1))
    return artifacts


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_publish_list_diff_query_and_export(artifacts: Path, tmp_path: Path) -> None:
    a = ("--artifacts", str(artifacts))
    assert "testbench 0.1.0 published" in _ok("publish", "--run", "run-1", "--version", "0.1.0", *a)
    assert "testbench 0.1.1 published" in _ok("publish", "--bump", "patch", *a)  # latest run
    listed = _ok("releases", "list", *a)
    assert "0.1.0" in listed and "0.1.1" in listed
    diff = _ok("releases", "diff", "0.1.0", "0.1.1", "--ids", *a)
    assert diff.count("removed\tfraud\t") == 4  # the dropped question, in each of 4 variants
    assert "added\t" not in diff and "changed\t" not in diff
    query = _ok(
        "catalog",
        "query",
        "SELECT count(*) AS n FROM release_typo",
        "--attach",
        str(artifacts / "releases/testbench/0.1.1"),
        *a,
    )
    assert " 5 " in query  # 2 scenarios x 3 questions, one dropped
    out = tmp_path / "export"
    assert "exported 20 rows in 8 folders" in _ok(
        "export", "jsonl", str(artifacts / "releases/testbench/0.1.1"), "--out", str(out)
    )
    first = json.loads((out / "fraud/typo/samples.jsonl").read_text().splitlines()[0])
    assert (out / first["image"]).is_file()


def test_publish_errors_are_reported_without_writing(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    a = ["--artifacts", str(artifacts)]
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = runner.invoke(app, ["publish", "--to-hub", "org/bench", *a])
    assert result.exit_code == 2 and "HF_TOKEN" in result.output
    assert not (artifacts / "releases").exists()
    _ok("publish", "--run", "run-1", *a)
    result = runner.invoke(app, ["publish", "--run", "run-2", "--version", "0.1.0", *a])
    assert result.exit_code == 2 and "immutable" in result.output
    result = runner.invoke(app, ["catalog", "query", "SELECT * FROM nope", *a])
    assert result.exit_code == 2 and "nope" in result.output


def test_publishing_a_run_without_accepted_samples_is_a_one_line_error(artifacts: Path) -> None:
    rejected = make_inputs(artifacts)
    for sample in rejected.samples:
        sample.status = "rejected"
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        record_run(catalog, "run-empty", rejected, T0 + timedelta(days=2))
    result = CliRunner().invoke(
        app, ["publish", "--run", "run-empty", "--artifacts", str(artifacts)]
    )
    assert result.exit_code == 2
    assert result.output == "error: run run-empty has no accepted sample to publish\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (artifacts / "releases").exists()


def test_publish_with_version_auto_prints_the_change(artifacts: Path) -> None:
    a = ("--artifacts", str(artifacts))
    first = _ok("publish", "--run", "run-1", "--version", "auto", *a)
    assert "testbench 0.1.0 published" in first and "the first version" in first
    second = _ok("publish", "--run", "run-2", "--version", "auto", *a)
    assert "testbench 0.2.0 published" in second  # a question was dropped: minor
    assert "against 0.1.0: 0 added, 4 removed, 0 changed sample(s)" in second
    again = _ok("publish", "--run", "run-2", "--version", "auto", *a)
    assert "testbench 0.2.0 unchanged" in again
