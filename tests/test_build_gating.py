"""`safetyforge build` publishes nothing bad quietly: its exit code says what happened when the
key phrases are copied from the prompt, a scenario ends empty, requests time out, the endpoint
is down or something unexpected breaks (issue 22). Real CLI, real Prefect, the real `openai`
client against loopback endpoints."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_loopback import (
    LoopbackServer,
    bank_responder,
    example_copy_responder,
    flaky_responder,
    message_text,
)
from rich.progress import Progress
from typer.testing import CliRunner

from flows.cli import app
from flows.variant_images import advance

RUNNER = CliRunner()
KEY_ENV = "SF_GATING_KEY"
EXTRACTION = "with these string fields"  # in the key-phrase prompts only


@pytest.fixture
def cli(prefect_api: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The build command in this process; the Prefect settings it sets are undone after."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def build(artifacts: Path, server: LoopbackServer, *overrides: str):
    os.environ[KEY_ENV] = server.api_key
    settings = [
        f"artifacts_dir={artifacts}",
        "llm.provider=openai",
        f"llm.base_url={server.base_url}",
        f"llm.api_key_env={KEY_ENV}",
        "llm.model=loopback",
        "scenarios=[fraud, hate_speech]",
        "questions_per_scenario=2",
        "variants=[text_only, typo]",
        "review.ocr_check=false",
        "release.name=gated",
        *overrides,
    ]
    return RUNNER.invoke(app, ["build", *(a for s in settings for a in ("--set", s))])


def released(artifacts: Path) -> list[Path]:
    return sorted((artifacts / "releases").glob("gated/*.*.*"))


def test_copied_example_key_phrases_publish_nothing_and_exit_5(cli: None, tmp_path: Path) -> None:
    with LoopbackServer(example_copy_responder()) as server:
        result = build(tmp_path, server)
    assert result.exit_code == 5, result.output
    assert "no sample was accepted" in result.output
    assert released(tmp_path) == []
    # One line for the rule, with its count and one example, not one line per key phrase.
    lines = [line for line in result.output.splitlines() if "template_example" in line]
    assert len(lines) == 1, lines
    assert "4  key phrase: template_example  e.g. template_example: key phrase" in lines[0]


def test_an_empty_scenario_fails_the_build_unless_allowed(cli: None, tmp_path: Path) -> None:
    with LoopbackServer(example_copy_responder(frozenset({"Hate Speech"}))) as server:
        result = build(tmp_path, server)
        assert result.exit_code == 5, result.output
        assert "No accepted sample: hate_speech" in result.output
        assert "hate_speech │" in result.output.replace(" ", " ")  # its row of zeros is shown
        assert released(tmp_path) == []
        allowed = build(tmp_path, server, "release.allow_empty_scenarios=true")
    assert allowed.exit_code == 0, allowed.output
    assert [p.name for p in released(tmp_path)] == ["0.1.0"]


def test_timeouts_publish_nothing_and_a_rerun_asks_exactly_what_is_missing(
    cli: None, tmp_path: Path
) -> None:
    flaky = flaky_responder(bank_responder(), every=2, failures=2, delay_s=1.0, match=EXTRACTION)
    timeouts = ["llm.timeout_s=0.3", "llm.max_retries=1"]
    with LoopbackServer(flaky) as server:
        first = build(tmp_path, server, *timeouts)
        assert first.exit_code == 4, first.output
        assert "Incomplete:" in first.output and "APITimeoutError" in first.output
        assert released(tmp_path) == []
        missing = int(first.output.split("Incomplete: ")[1].split()[0])
        assert missing > 0
        before = server.request_count()
        second = build(tmp_path, server, *timeouts)
        # Key-phrase requests only: the samples the re-run builds also get their leakage verdicts.
        asked = sum(EXTRACTION in message_text(s.body) for s in server.seen()[before:])
    assert second.exit_code == 0, second.output
    assert asked == missing  # the cached answers are reused; only the missing ones are asked
    assert [p.name for p in released(tmp_path)] == ["0.1.0"]


def test_allow_incomplete_publishes_and_the_card_says_so(cli: None, tmp_path: Path) -> None:
    flaky = flaky_responder(bank_responder(), every=2, failures=2, delay_s=1.0, match=EXTRACTION)
    with LoopbackServer(flaky) as server:
        result = build(
            tmp_path,
            server,
            "llm.timeout_s=0.3",
            "llm.max_retries=1",
            "release.allow_incomplete=true",
            "release.allow_empty_scenarios=true",
        )
    assert result.exit_code == 0, result.output
    assert "from an incomplete run" in result.output
    card = (released(tmp_path)[0] / "README.md").read_text()
    assert "incomplete run:" in card and "went unanswered" in card


def test_an_unreachable_endpoint_exits_3_at_once_naming_the_url(cli: None, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    os.environ[KEY_ENV] = "sk-any"
    started = time.monotonic()
    result = RUNNER.invoke(
        app,
        [
            "build",
            *("--set", f"artifacts_dir={tmp_path}", "--set", "llm.provider=openai"),
            *("--set", f"llm.base_url={url}", "--set", f"llm.api_key_env={KEY_ENV}"),
        ],
    )
    assert result.exit_code == 3, result.output
    assert url in result.output and "unreachable" in result.output
    assert time.monotonic() - started < 30  # a probe, not minutes of retries
    assert not any(tmp_path.iterdir())


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_a_log(
    cli: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("review rules exploded")

    monkeypatch.setattr("flows.build.review_samples", broken)
    result = RUNNER.invoke(
        app,
        [
            "build",
            *("--set", f"artifacts_dir={tmp_path}", "--set", "scenarios=[fraud]"),
            *("--set", "questions_per_scenario=1", "--set", "variants=[text_only]"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if "review rules exploded" in line]
    assert len(errors) == 1 and errors[0].startswith("error: RuntimeError")
    log = Path(errors[0].split("(traceback: ")[1].rstrip(")"))
    assert log.parent == tmp_path / "logs"
    text = log.read_text()
    assert "Traceback" in text and "review rules exploded" in text
    assert "prefect.task_runs ERROR" in text  # Prefect's own traceback went there too


def test_a_progress_bar_never_shows_more_done_than_its_total() -> None:
    with Progress(disable=True) as progress:
        bar = progress.add_task("Questions", total=13)
        advance(progress, bar, 13)
        advance(progress, bar, 8)  # a later round asked more than the first estimate
        task = progress.tasks[0]
    assert task.completed == 21 and task.total == 21
