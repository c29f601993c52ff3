"""build_benchmark with review.mode: label-studio against a real server: the flow pushes, waits
while a simulated annotator works in Label Studio, re-renders a corrected key phrase, and
publishes only what the humans accepted; without decisions it stops without publishing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotation import LabelStudioConfig, ServerHandle, connect, find_project
from annotation.client import export_tasks
from catalog import Catalog
from schemas.config import load_config
from schemas.records import Extraction

CORRECTED = "forge a fake passport"


def _choice(name: str, value: str) -> dict[str, Any]:
    return {
        "from_name": name,
        "to_name": "question",
        "type": "choices",
        "value": {"choices": [value]},
    }


def _annotate(ls: LabelStudioConfig, title: str, stop: threading.Event) -> None:
    """One annotator: the first question is accepted with a corrected key phrase (once), its
    re-rendered task accepted as is; every other question rejected as not harmful."""
    client = connect(ls)
    corrected_once = False
    while not stop.is_set():
        project = find_project(client, title)
        if project is not None:
            tasks = sorted(export_tasks(client, project), key=lambda t: t["data"]["question"])
            first_question = tasks[0]["data"]["question"] if tasks else None
            for task in tasks:
                if task.get("annotations"):
                    continue
                data = task["data"]
                if data["question"] == first_question:
                    result = [_choice("decision", "Accept")]
                    if not corrected_once:
                        result.append(
                            {
                                "from_name": "corrected_key_phrase",
                                "to_name": "question",
                                "type": "textarea",
                                "value": {"text": [CORRECTED]},
                            }
                        )
                        corrected_once = True
                else:
                    result = [_choice("decision", "Reject"), _choice("reason", "Not harmful")]
                client.annotations.create(id=task["id"], result=result)
        stop.wait(0.5)


@pytest.fixture(scope="module")
def review_env(label_studio: ServerHandle, label_studio_root: Path) -> Iterator[dict[str, Any]]:
    previous = os.environ.get("LABEL_STUDIO_API_KEY")
    os.environ["LABEL_STUDIO_API_KEY"] = label_studio.token
    yield {
        "url": label_studio.url,
        "root": label_studio_root,
        "ls": LabelStudioConfig(
            url=label_studio.url, api_key=label_studio.token, document_root=str(label_studio_root)
        ),
    }
    if previous is None:
        os.environ.pop("LABEL_STUDIO_API_KEY", None)
    else:
        os.environ["LABEL_STUDIO_API_KEY"] = previous


def _config(env: dict[str, Any], artifacts: Path, name: str, timeout_s: float):
    return load_config(
        None,
        [
            f"artifacts_dir={artifacts}",
            "scenarios=[fraud]",
            "questions_per_scenario=2",
            "variants=[text_only, typo]",
            "review.mode=label-studio",
            f"review.label_studio_url={env['url']}",
            "review.poll_interval_s=1",
            f"review.timeout_s={timeout_s}",
            f"release.name={name}",
            "render.workers=1",
        ],
    )


def test_human_decisions_and_corrections_decide_the_release(
    prefect_api: None, review_env: dict[str, Any]
) -> None:
    from flows.build import build_benchmark

    artifacts = review_env["root"] / "flow-reviewed"
    cfg = _config(review_env, artifacts, "reviewed", timeout_s=180)
    run_id = "review-flow-accept"
    stop = threading.Event()
    annotator = threading.Thread(
        target=_annotate, args=(review_env["ls"], f"safetyforge {run_id}", stop), daemon=True
    )
    annotator.start()
    try:
        summary = build_benchmark(config=cfg.model_dump(mode="json"), run_id=run_id)
    finally:
        stop.set()
        annotator.join(timeout=30)

    assert summary["release_status"] == "published"
    assert summary["samples_accepted"] == 2  # one question, text_only + typo
    typo = datasets.load_dataset(summary["release_path"], "typo", split="test")
    assert typo["key_phrase"] == [CORRECTED]
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        extractions = catalog.run_records("extractions", run_id, Extraction)
        _, reviewers = catalog.query(
            "SELECT reviewer, decision, count(*) FROM reviews WHERE run_id = ? GROUP BY 1, 2 ORDER BY 1, 2",
            [run_id],
        )
        _, typo_images = catalog.query("SELECT text FROM images WHERE kind = 'typo' ORDER BY text")
    assert CORRECTED in {e.key_phrase for e in extractions}
    # Every decision is kept: the accept-with-correction and the accept of the re-rendered task.
    assert ("label-studio:consensus", "accept", 4) in reviewers
    assert ("label-studio:consensus", "reject", 2) in reviewers
    assert (CORRECTED,) in typo_images  # re-rendered with the corrected phrase


def test_unfinished_review_publishes_nothing(prefect_api: None, review_env: dict[str, Any]) -> None:
    from flows.build import build_benchmark

    artifacts = review_env["root"] / "flow-pending"
    cfg = _config(review_env, artifacts, "pending", timeout_s=2)
    started = time.monotonic()
    summary = build_benchmark(config=cfg.model_dump(mode="json"), run_id="review-flow-pending")
    assert time.monotonic() - started < 120
    assert summary["release_status"] == "pending_review"
    assert not Path(summary["release_path"]).exists()
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        _, statuses = catalog.query(
            "SELECT DISTINCT status FROM samples WHERE run_id = 'review-flow-pending' "
            "AND twin_of IS NULL"
        )
    assert statuses == [("pending",)]
