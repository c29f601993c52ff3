"""Questions of a labelled task about collection images (pure): one accepted question and
key-phrase record per fixed question, labels attached; a question whose label group is not a
scenario of the build is kept, rejected with the reason; an image whose labels do not fit is a
failure with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from generators.grounded import grounded_question_id
from generators.tasks.base import LabelError, TaskBuilder, image_labels
from schemas.records import Extraction, ImageRecord, Question, Scenario


@dataclass
class TaskQuestionsResult:
    questions: list[Question] = field(default_factory=list)  # accepted and rejected
    extractions: list[Extraction] = field(default_factory=list)  # accepted questions only
    image_of: dict[str, str] = field(default_factory=dict)  # question id -> image id
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (image, "-", why)


def task_questions(
    images: Sequence[ImageRecord], builder: TaskBuilder, scenarios: Sequence[Scenario]
) -> TaskQuestionsResult:
    known = {s.slug for s in scenarios}
    result = TaskQuestionsResult()
    for image in images:
        original = str(image.params.get("original_id", image.image_id))
        try:
            asked = builder.questions(image_labels(image))
        except LabelError as exc:
            result.failures.append((original, "-", f"labels: {exc}"))
            continue
        for item in asked:
            qid = grounded_question_id(image.image_id, item.scenario, item.text)
            reason = (
                None
                if item.scenario in known
                else f"unknown scenario: {item.scenario!r} is not a scenario of the build"
            )
            result.questions.append(
                Question(
                    question_id=qid,
                    scenario=item.scenario,
                    text=item.text,
                    status="rejected" if reason else "accepted",
                    reject_reason=reason,
                    call_id="",
                    original_id=original,
                )
            )
            if reason is None:
                result.image_of[qid] = image.image_id
                result.extractions.append(
                    Extraction(
                        question_id=qid,
                        scenario=item.scenario,
                        question=item.text,
                        original_id=original,
                        labels=item.labels,
                    )
                )
    return result
