"""Issue 22's figures, measured with loopback endpoints (tests/openai_loopback.py):

1. the quickstart build (13 scenarios x 3 questions) against an endpoint that answers every
   key-phrase request with the prompt's own example: accepted samples, and how many of them
   carry the example key phrase;
2. the same build against an endpoint that times out on one key-phrase request in four (twice
   each): exit code and what was published, then a re-run's exit code, requests and release.

    python scripts/gating_figures.py                 # this checkout
    python scripts/gating_figures.py --code DIR      # another checkout (e.g. the code before)

Each build runs `safetyforge build` in a subprocess of DIR's code (OCR check off, for time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from openai_loopback import (  # noqa: E402
    PROMPT_EXAMPLE,
    LoopbackServer,
    bank_responder,
    example_copy_responder,
    flaky_responder,
)

KEY_ENV = "SF_FIGURES_KEY"


def build(code: Path, artifacts: Path, server: LoopbackServer, *overrides: str) -> int:
    settings = [
        f"artifacts_dir={artifacts}",
        "llm.provider=openai",
        f"llm.base_url={server.base_url}",
        f"llm.api_key_env={KEY_ENV}",
        "llm.model=loopback",
        "review.ocr_check=false",
        *overrides,
    ]
    args = ["build", "-c", str(code / "configs" / "quickstart.yaml")]
    args += [a for s in settings for a in ("--set", s)]
    env = {**os.environ, "PYTHONPATH": str(code), KEY_ENV: server.api_key}
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
    )
    said = [
        line.strip()
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith(("Published", "No new release", "Nothing new", "error", "Incomplete"))
    ]
    print(f"    exit {done.returncode}: {' | '.join(said)}")
    return done.returncode


def releases(artifacts: Path) -> list[str]:
    return sorted(p.name for p in (artifacts / "releases").glob("*/*.*.*"))


def copied(artifacts: Path) -> tuple[int, int]:
    """(accepted samples of the latest run, those whose key phrase is the prompt's example)."""
    with duckdb.connect(str(artifacts / "catalog.duckdb"), read_only=True) as db:
        run = db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        return db.execute(
            "SELECT count(*), count(*) FILTER (WHERE lower(e.key_phrase) = ?) FROM samples s "
            "JOIN extractions e ON e.run_id = s.run_id AND e.question_id = s.question_id "
            "WHERE s.run_id = ? AND s.status = 'accepted'",
            [PROMPT_EXAMPLE["key_phrase"], run],
        ).fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose pipeline runs")
    code = parser.parse_args().code.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"1. copy-example endpoint ({code})")
        with LoopbackServer(example_copy_responder()) as server:
            artifacts = Path(tmp) / "copy"
            build(code, artifacts, server)
            accepted, example = copied(artifacts)
            print(f"    accepted samples {accepted}, with the example key phrase {example}")
            print(f"    published: {releases(artifacts) or 'nothing'}")
        print("2. timeout-prone endpoint")
        flaky = flaky_responder(
            bank_responder(), every=4, failures=2, delay_s=2.0, match="with these string fields"
        )
        with LoopbackServer(flaky) as server:
            artifacts = Path(tmp) / "flaky"
            timeouts = ("llm.timeout_s=0.5", "llm.max_retries=1")
            build(code, artifacts, server, *timeouts)
            print(
                f"    first run: {server.request_count()} requests, published: "
                f"{releases(artifacts) or 'nothing'}"
            )
            before = server.request_count()
            build(code, artifacts, server, *timeouts)
            print(
                f"    re-run: {server.request_count() - before} requests, published: "
                f"{releases(artifacts) or 'nothing'}"
            )


if __name__ == "__main__":
    main()
