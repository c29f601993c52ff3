"""Human review inside the build (review.mode: label-studio): push the run's questions to Label
Studio with the auto-review as pre-annotations, poll the export until every question has a
consensus (or review.timeout_s passes), and re-render what annotators corrected. With
review.wait false a run makes one pass instead (push, pull, re-render) and leaves the questions
still under review for the next run.

The catalog keeps every annotator's decision and the consensus; sample status follows the
consensus only, so a question nobody has decided yet is never published.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from annotation import (
    CONSENSUS_REVIEWER,
    LabelStudioConfig,
    PullResult,
    ReviewUnavailable,
    pull_decisions,
    push_tasks,
)
from annotation.rules import label_failures
from annotation.server import CREDENTIALS_FILE, read_credentials
from catalog import Catalog
from schemas.config import BuildConfig
from schemas.records import Extraction, ImageRecord, ReviewDecision, Sample

# (corrected extractions) -> (their new samples, the images they use)
Rerender = Callable[[list[Extraction]], tuple[list[Sample], dict[str, ImageRecord]]]


def project_title(config: BuildConfig, run_id: str) -> str:
    """A growing benchmark (config `grow`) keeps one project for all its runs: tasks are keyed by
    content, so each run imports only what was never pushed. A one-off build has its own."""
    if config.grow is not None:
        return f"safetyforge {config.release.name}"
    return f"safetyforge {run_id}"


def label_studio_config(config: BuildConfig) -> LabelStudioConfig:
    """Where the server is and the token to use: the environment variable named by
    review.api_key_env, else the credentials file of a server started by `review server`."""
    artifacts = Path(config.artifacts_dir).resolve()
    data_dir = artifacts / "label-studio"
    token = os.environ.get(config.review.api_key_env)
    if not token and (data_dir / CREDENTIALS_FILE).is_file():
        token = read_credentials(data_dir).token
    if not token:
        raise ReviewUnavailable(
            f"no Label Studio token for {config.review.label_studio_url}: start the server with "
            f"`safetyforge review server` (or `make label-studio`) or set {config.review.api_key_env}"
        )
    return LabelStudioConfig(
        url=config.review.label_studio_url, api_key=token, document_root=str(artifacts.parent)
    )


def apply_consensus(samples: Sequence[Sample], consensus: Sequence[ReviewDecision]) -> None:
    """Sample status from the human consensus alone; undecided samples stay pending."""
    verdict = {d.sample_id: d.decision for d in consensus}
    for sample in samples:
        decided = verdict.get(sample.sample_id)
        sample.status = {"accept": "accepted", "reject": "rejected"}.get(decided or "", "pending")  # type: ignore[assignment]


def with_key_phrase(extraction: Extraction, key_phrase: str) -> Extraction:
    """The record with an annotator's corrected key phrase in every field that shows it.

    The rephrased prompts never contain the key phrase and the FigStep-Pro template hides it
    behind `*`, so they stay as they are."""
    old = extraction.key_phrase
    return extraction.model_copy(
        update={
            "key_phrase": key_phrase,
            "changed_question": extraction.changed_question.replace(old, key_phrase),
            "figstep_statement": extraction.figstep_statement.replace(old, key_phrase),
        }
    )


def corrections(
    consensus: Sequence[ReviewDecision],
    samples: Sequence[Sample],
    extractions: dict[str, Extraction],
) -> list[Extraction]:
    """Extractions to re-render: questions whose consensus carries a different key phrase."""
    question_of = {s.sample_id: s.question_id for s in samples}
    fixed: dict[str, Extraction] = {}
    for decision in consensus:
        qid = question_of.get(decision.sample_id)
        new = (decision.corrected_key_phrase or "").strip()
        if qid is None or not new or qid in fixed:
            continue
        if new != extractions[qid].key_phrase:
            fixed[qid] = with_key_phrase(extractions[qid], new)
    return list(fixed.values())


def label_corrections(
    consensus: Sequence[ReviewDecision],
    samples: Sequence[Sample],
    extractions: dict[str, Extraction],
) -> tuple[list[Extraction], list[str]]:
    """Labelled tasks: the records whose consensus corrects their labels (merged over the old
    ones; nothing to re-render), and why a correction that breaks a label rule was not taken."""
    question_of = {s.sample_id: s.question_id for s in samples}
    fixed: dict[str, Extraction] = {}
    refused: list[str] = []
    for decision in consensus:
        qid = question_of.get(decision.sample_id)
        if qid is None or not decision.corrected_labels or qid in fixed:
            continue
        old = extractions[qid]
        labels = {**old.labels, **decision.corrected_labels}
        if labels == old.labels:
            continue
        if problems := label_failures(labels):
            refused.append(f"question {qid}: corrected labels kept out: {'; '.join(problems)}")
            continue
        fixed[qid] = old.model_copy(update={"labels": labels})
    return list(fixed.values()), sorted(set(refused))


def relabel(
    consensus: Sequence[ReviewDecision],
    samples: Sequence[Sample],
    extractions: dict[str, Extraction],
) -> tuple[int, list[str]]:
    """Take the consensus's label corrections: into `extractions` (by question id) and the
    samples' labels, in place. Returns how many questions changed and the corrections refused."""
    fixed, refused = label_corrections(consensus, samples, extractions)
    extractions.update({e.question_id: e for e in fixed})
    changed = {e.question_id for e in fixed}
    for sample in samples:
        if sample.question_id in changed:
            sample.labels = dict(extractions[sample.question_id].labels)
    return len(fixed), refused


@dataclass
class ReviewOutcome:
    samples: list[Sample]
    images: dict[str, ImageRecord]
    extractions: list[Extraction]
    complete: bool  # False: questions are still pending (the timeout passed, or no waiting)
    pushed: int = 0  # tasks imported (never pushed before, or re-rendered)
    decisions: int = 0  # annotators' decisions in the project
    corrected: int = 0  # questions re-rendered with a corrected key phrase
    pending: int = 0  # samples still under review


def review_in_label_studio(
    config: BuildConfig,
    run_id: str,
    samples: list[Sample],
    images: dict[str, ImageRecord],
    extractions: list[Extraction],
    auto_decisions: list[ReviewDecision],
    scenario_names: dict[str, str],
    catalog_path: Path,
    rerender: Rerender,
    console: Console,
) -> ReviewOutcome:
    """Push, then poll until every question has a consensus or review.timeout_s passes (with
    review.wait false: pull once and return).

    A corrected key phrase re-renders that question's images and pushes a new task, which is
    reviewed again (its samples keep their ids). Every pull is recorded in the catalog.
    """
    ls = label_studio_config(config)
    artifacts = Path(config.artifacts_dir).resolve()
    by_question = {e.question_id: e for e in extractions}
    samples, images = list(samples), dict(images)
    pushed = corrected = 0

    def push(batch: list[Sample]) -> int:
        nonlocal pushed
        result = push_tasks(
            ls,
            project_title(config, run_id),
            batch,
            images,
            artifacts,
            auto_decisions,
            scenario_names,
            annotators_per_task=config.review.min_annotations,
        )
        console.print(
            f"Label Studio project {result.project_id}: {result.created} task(s) imported, "
            f"{result.skipped} already there — review at {ls.url}/projects/{result.project_id}"
        )
        pushed += result.created
        return result.project_id

    project_id = push(samples)
    deadline = time.monotonic() + config.review.timeout_s
    pulled: PullResult
    while True:
        pulled = pull_decisions(ls, project_id, config.review.min_annotations)
        with Catalog(catalog_path) as catalog:
            catalog.upsert("reviews", pulled.decisions + pulled.consensus, run_id)
        for why in relabel(pulled.consensus, samples, by_question)[1]:
            console.print(f"[yellow]review:[/yellow] {why}")
        fixed = corrections(pulled.consensus, samples, by_question)
        if fixed:
            console.print(f"{len(fixed)} corrected key phrase(s): re-rendering and re-reviewing")
            corrected += len(fixed)
            new_samples, new_images = rerender(fixed)
            by_question.update({e.question_id: e for e in fixed})
            images.update(new_images)
            replaced = {s.sample_id for s in new_samples}
            samples = [s for s in samples if s.sample_id not in replaced] + new_samples
            push(new_samples)
            continue
        if not pulled.pending:
            break
        if not config.review.wait:
            console.print(
                f"{len(pulled.pending)} sample(s) still under review: they wait for the next run"
            )
            break
        if time.monotonic() >= deadline:
            console.print(
                f"[yellow]review incomplete:[/yellow] {len(pulled.pending)} sample(s) still "
                f"pending after {config.review.timeout_s:.0f} s; nothing is published. When the "
                f"review is done: `safetyforge review pull --run {run_id}` then "
                f"`safetyforge publish --run {run_id}`"
            )
            break
        console.print(
            f"waiting for review: {len(pulled.pending)} sample(s) pending "
            f"(next check in {config.review.poll_interval_s:.0f} s)"
        )
        time.sleep(config.review.poll_interval_s)
    apply_consensus(samples, [d for d in pulled.consensus if d.reviewer == CONSENSUS_REVIEWER])
    return ReviewOutcome(
        samples=samples,
        images=images,
        extractions=list(by_question.values()),
        complete=not pulled.pending,
        pushed=pushed,
        decisions=len(pulled.decisions),
        corrected=corrected,
        pending=len(pulled.pending),
    )
