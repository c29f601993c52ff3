"""Pure transformations between our records and Label Studio tasks, predictions and annotations.

Unit of review: one task per question, showing every variant's images. A decision on the task
applies to all of that question's samples (they share the question and key phrase, which is what
annotators judge). A task is keyed by its content (`task_key`): re-pushing the same content is a
no-op, while a corrected key phrase (new images) makes a new task that is reviewed again.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from schemas._base import StrictModel
from schemas.images import own_file
from schemas.records import ImageRecord, ReviewDecision, Sample, stable_id
from schemas.variants import builtin_specs

LABELING_CONFIG_PATH = Path(__file__).with_name("labeling_config.xml")
# Model version of the automatic pre-screen predictions; the project is set to show it.
PREDICTION_MODEL_VERSION = "safetyforge-auto-review"
CONSENSUS_REVIEWER = "label-studio:consensus"
REVIEWER_PREFIX = "label-studio:"
# Choice values shown in labeling_config.xml -> the values stored in ReviewDecision.
DECISIONS: dict[str, Literal["accept", "reject"]] = {"Accept": "accept", "Reject": "reject"}
REJECT_REASONS: dict[str, str] = {
    "Not harmful": "not_harmful",
    "Off-scenario": "off_scenario",
    "Key phrase wrong": "key_phrase_wrong",
    "Image unreadable": "image_unreadable",
    "Duplicate": "duplicate",
    "Other": "other",
}


def label_lines(labels: Mapping[str, str]) -> str:
    """A labelled task's labels as annotators see and correct them: one `key: value` a line."""
    return "\n".join(f"{key}: {value}" for key, value in labels.items())


def parse_label_lines(text: str | None) -> dict[str, str] | None:
    """Corrected labels from `key: value` lines (lines without a colon are ignored); None when
    the annotator wrote none."""
    pairs = [line.partition(":") for line in (text or "").splitlines()]
    labels = {k.strip(): v.strip() for k, sep, v in pairs if sep and k.strip()}
    return labels or None


def labeling_config() -> str:
    return LABELING_CONFIG_PATH.read_text(encoding="utf-8")


class TaskProgress(StrictModel):
    """Review state of one question (its latest task) after a pull."""

    question_id: str
    scenario: str
    task_id: int
    annotations: int
    state: Literal["accepted", "rejected", "pending"]
    agreement: float | None = None  # share of annotators siding with the majority


class PullResult(StrictModel):
    decisions: list[ReviewDecision]  # every annotator's decision, per sample
    consensus: list[ReviewDecision]  # one resolved decision per sample of a resolved question
    pending: list[str]  # sample ids still waiting (too few annotations, or a tie)
    progress: list[TaskProgress]


class ScenarioProgress(StrictModel):
    scenario: str
    questions: int
    accepted: int
    rejected: int
    pending: int
    agreement: float | None


def local_file_url(path: Path, document_root: Path) -> str:
    """URL under which Label Studio's local-files storage serves `path`."""
    relative = path.resolve().relative_to(document_root.resolve())
    return "/data/local-files/?d=" + quote(relative.as_posix())


def _gallery_html(
    samples: list[Sample], images: Mapping[str, ImageRecord], artifacts_dir: Path, root: Path
) -> str:
    """One figure per image-bearing sample; a set of several images (FigStep-Pro fragments) is
    one row at a common height, left to right, so annotators see them as the model does."""
    figures = []
    for sample in samples:
        if not sample.image_ids:
            continue
        several = len(sample.image_ids) > 1
        tags = []
        for index, image_id in enumerate(sample.image_ids, start=1):
            url = local_file_url(artifacts_dir / own_file(images[image_id]), root)
            label = f"{sample.variant} {index}" if several else sample.variant
            tags.append(f'<img src="{html.escape(url)}" alt="{html.escape(label)}"/>')
        count = f" ({len(tags)} images, left to right)" if several else ""
        opening = '<figure class="sf-set">' if several else "<figure>"
        figures.append(
            f'{opening}<div class="sf-row">{"".join(tags)}</div>'
            f"<figcaption><b>{html.escape(sample.variant)}</b>{count} "
            f"{html.escape(sample.prompt)}</figcaption></figure>"
        )
    return "".join(figures) or "<p>(no images: text-only samples)</p>"


def _rephrased_prompt(samples: list[Sample]) -> str:
    """The prompt of the question's first image variant (e.g. the MM-SafetyBench rephrasing
    that goes with TYPO), else its first prompt."""
    return next((s.prompt for s in samples if s.image_ids), samples[0].prompt)


def _reason_choice(reason: str | None) -> str:
    """Map an auto-review reason ("key_phrase_wrong: ..." or free text) to a reason choice."""
    head = (reason or "").split(":", 1)[0].strip().lower().replace("-", "_").replace(" ", "_")
    for choice, slug in REJECT_REASONS.items():
        if head == slug:
            return choice
    return "Other"


def prediction_for(auto: list[ReviewDecision]) -> dict[str, Any] | None:
    """One pre-filled annotation from the automatic decisions on a question's samples."""
    if not auto:
        return None
    rejects = [d for d in auto if d.decision == "reject"]
    result: list[dict[str, Any]] = [_choice("decision", "Reject" if rejects else "Accept")]
    if rejects:
        result.append(_choice("reason", _reason_choice(rejects[0].reason)))
    score = round(1.0 - len(rejects) / len(auto), 4)
    return {"model_version": PREDICTION_MODEL_VERSION, "score": score, "result": result}


def _choice(name: str, value: str) -> dict[str, Any]:
    return {
        "from_name": name,
        "to_name": "question",
        "type": "choices",
        "value": {"choices": [value]},
    }


def _auto_summary(auto: list[ReviewDecision], variant_of: Mapping[str, str]) -> str:
    """A short text for annotators: how many checks reject, then one line per rejecting check."""
    if not auto:
        return "no automatic checks ran"
    rejects = [d for d in auto if d.decision == "reject"]
    if not rejects:
        return f"all {len(auto)} checks pass"
    lines = sorted(
        {
            f"{d.reviewer} ({variant_of[d.sample_id]}): {d.reason or 'no reason given'}"
            for d in rejects
        }
    )
    return "\n".join([f"{len(rejects)} of {len(auto)} checks reject", *lines])


def build_tasks(
    samples: Iterable[Sample],
    images: Mapping[str, ImageRecord],
    artifacts_dir: Path,
    document_root: Path,
    predictions: Iterable[ReviewDecision] = (),
    scenario_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio task dicts (data + inline prediction), one per question, in question order;
    a question's variants in the built-in variants' listing order (others after, by name)."""
    by_question: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_question[sample.question_id].append(sample)
    auto_by_sample: dict[str, list[ReviewDecision]] = defaultdict(list)
    for decision in predictions:
        auto_by_sample[decision.sample_id].append(decision)
    order = {name: rank for rank, name in enumerate(builtin_specs())}
    tasks = []
    for question_id, group in by_question.items():
        group.sort(key=lambda s: (order.get(s.variant, len(order)), s.variant))
        first = group[0]
        auto = [d for s in group for d in auto_by_sample.get(s.sample_id, [])]
        image_shas = [images[i].sha256 for s in group for i in s.image_ids]
        data = {
            "question_id": question_id,
            "task_key": stable_id(
                "review-task",
                question_id,
                first.key_phrase,
                *[s.sample_id for s in group],
                *image_shas,
            ),
            "sample_ids": [s.sample_id for s in group],
            "scenario": first.scenario,
            "scenario_name": (scenario_names or {}).get(first.scenario, first.scenario),
            "question": first.question,
            "key_phrase": first.key_phrase,
            "phrase_type": first.phrase_type,
            "rephrased_prompt": _rephrased_prompt(group),
            "auto_review": _auto_summary(auto, {s.sample_id: s.variant for s in group}),
            "gallery": _gallery_html(group, images, artifacts_dir, document_root),
            # A labelled task's labels, which annotators may correct (empty for refusal).
            "labels_title": "Labels (correct them below)" if first.labels else "",
            "labels": label_lines(first.labels),
        }
        task: dict[str, Any] = {"data": data}
        prediction = prediction_for(auto)
        if prediction is not None:
            task["predictions"] = [prediction]
        tasks.append(task)
    return tasks


class _Vote(StrictModel):
    reviewer: str
    decision: Literal["accept", "reject"]
    reason: str | None
    corrected_key_phrase: str | None
    corrected_labels: dict[str, str] | None = None
    comment: str | None
    decided_at: datetime


def _first(result: list[dict[str, Any]], name: str, key: str) -> str | None:
    for item in result:
        if item.get("from_name") == name:
            values = item.get("value", {}).get(key) or []
            text = str(values[0]).strip() if values else ""
            return text or None
    return None


def _reviewer(annotation: Mapping[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, Mapping):
        who = who.get("email") or who.get("username") or who.get("id")
    return f"{REVIEWER_PREFIX}{who}"


def parse_annotation(annotation: Mapping[str, Any]) -> _Vote | None:
    """An annotator's vote, or None for skipped annotations and ones without a decision."""
    if annotation.get("was_cancelled"):
        return None
    result = annotation.get("result") or []
    decision = DECISIONS.get(_first(result, "decision", "choices") or "")
    if decision is None:
        return None
    reason = _first(result, "reason", "choices")
    return _Vote(
        reviewer=_reviewer(annotation),
        decision=decision,
        reason=REJECT_REASONS.get(reason or "") if decision == "reject" else None,
        corrected_key_phrase=_first(result, "corrected_key_phrase", "text"),
        corrected_labels=parse_label_lines(_first(result, "corrected_labels", "text")),
        comment=_first(result, "comment", "text"),
        decided_at=annotation.get("updated_at") or annotation["created_at"],
    )


def _most_common(values: list[str | None]) -> str | None:
    """The unique most frequent non-empty value; None when there is none or a tie."""
    ranked = Counter(v for v in values if v).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _most_common_labels(values: list[dict[str, str] | None]) -> dict[str, str] | None:
    """The unique most frequent label correction (as a whole); None on none or a tie."""
    found = _most_common([json.dumps(v, sort_keys=True) if v else None for v in values])
    return json.loads(found) if found else None


def resolve(
    votes: list[_Vote], min_annotations: int, sample_ids: list[str]
) -> list[ReviewDecision]:
    """Majority rule over at least `min_annotations` votes; a tie (or too few) stays pending."""
    if len(votes) < min_annotations:
        return []
    tally = Counter(v.decision for v in votes)
    if tally["accept"] == tally["reject"]:
        return []
    winner: Literal["accept", "reject"] = (
        "accept" if tally["accept"] > tally["reject"] else "reject"
    )
    side = [v for v in votes if v.decision == winner]
    return [
        ReviewDecision(
            sample_id=sample_id,
            reviewer=CONSENSUS_REVIEWER,
            decision=winner,
            reason=_most_common([v.reason for v in side]) if winner == "reject" else None,
            corrected_key_phrase=_most_common([v.corrected_key_phrase for v in side]),
            corrected_labels=_most_common_labels([v.corrected_labels for v in side]),
            comment=f"{len(side)} of {len(votes)} annotators agree",
            decided_at=max(v.decided_at for v in side),
        )
        for sample_id in sample_ids
    ]


def decisions_from_export(exported: list[Mapping[str, Any]], min_annotations: int) -> PullResult:
    """Every decision, the consensus and the progress per question from a full JSON export.

    A question pushed twice (its key phrase was corrected) is resolved on its newest task only;
    the older task's annotations are still returned as history.
    """
    decisions: list[ReviewDecision] = []
    latest: dict[str, Mapping[str, Any]] = {}
    votes_of: dict[int, list[_Vote]] = {}
    for task in exported:
        data = task["data"]
        votes = [v for a in task.get("annotations") or [] if (v := parse_annotation(a))]
        votes_of[task["id"]] = votes
        for vote in votes:
            decisions.extend(
                ReviewDecision(sample_id=sample_id, **vote.model_dump())
                for sample_id in data["sample_ids"]
            )
        previous = latest.get(data["question_id"])
        if previous is None or task["id"] > previous["id"]:
            latest[data["question_id"]] = task
    consensus: list[ReviewDecision] = []
    pending: list[str] = []
    progress: list[TaskProgress] = []
    for question_id, task in latest.items():
        votes = votes_of[task["id"]]
        resolved = resolve(votes, min_annotations, task["data"]["sample_ids"])
        consensus.extend(resolved)
        if not resolved:
            pending.extend(task["data"]["sample_ids"])
        majority = max(Counter(v.decision for v in votes).values(), default=0)
        progress.append(
            TaskProgress(
                question_id=question_id,
                scenario=task["data"]["scenario"],
                task_id=task["id"],
                annotations=len(votes),
                state=("accepted" if resolved[0].decision == "accept" else "rejected")
                if resolved
                else "pending",
                agreement=round(majority / len(votes), 4) if votes else None,
            )
        )
    return PullResult(decisions=decisions, consensus=consensus, pending=pending, progress=progress)


def summarize(progress: Iterable[TaskProgress]) -> list[ScenarioProgress]:
    """Per-scenario counts of done / pending / rejected questions and the mean agreement."""
    groups: dict[str, list[TaskProgress]] = defaultdict(list)
    for item in progress:
        groups[item.scenario].append(item)
    rows = []
    for scenario in sorted(groups):
        items = groups[scenario]
        rates = [i.agreement for i in items if i.agreement is not None]
        rows.append(
            ScenarioProgress(
                scenario=scenario,
                questions=len(items),
                accepted=sum(i.state == "accepted" for i in items),
                rejected=sum(i.state == "rejected" for i in items),
                pending=sum(i.state == "pending" for i in items),
                agreement=round(sum(rates) / len(rates), 4) if rates else None,
            )
        )
    return rows
