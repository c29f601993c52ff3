"""`safetyforge build` fails fast, before Prefect starts, on mistakes a user makes."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

RUNNER = CliRunner()


def test_help_explains_every_command() -> None:
    result = RUNNER.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "prompts", "publish", "review", "evaluate", "preview"):
        assert command in result.output


def test_bad_config_field_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("questions_per_scenario: 0\n")
    result = RUNNER.invoke(app, ["build", "--config", str(config)])
    assert result.exit_code == 2
    assert str(config) in result.output and "questions_per_scenario" in result.output


def test_unknown_scenario_exits_2(tmp_path: Path) -> None:
    result = RUNNER.invoke(
        app, ["build", "--set", "scenarios=[cooking]", "--set", f"artifacts_dir={tmp_path}"]
    )
    assert result.exit_code == 2
    assert "no scenario 'cooking'" in result.output
    assert not (tmp_path / "catalog.duckdb").exists()


def test_missing_api_key_exits_3_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SF_TEST_KEY", raising=False)
    result = RUNNER.invoke(
        app,
        [
            "build",
            "--set",
            "llm.provider=openai",
            "--set",
            "llm.api_key_env=SF_TEST_KEY",
            "--set",
            f"artifacts_dir={tmp_path}",
        ],
    )
    assert result.exit_code == 3
    assert "SF_TEST_KEY" in result.output
    assert not any(tmp_path.iterdir())
