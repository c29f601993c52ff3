"""Metrics per task type: `refusal` (attack success on unsafe samples), `over_refusal`
(benign contrast twins), `privacy`, `classification` and `captioning_toxicity` (labelled
tasks). Each registers itself; the report asks every one that applies."""

from evaluation.tasks import (  # noqa: F401  (registration)
    captioning_toxicity,
    classification,
    over_refusal,
    privacy,
    refusal,
)
from evaluation.tasks.base import TASK_TYPES, TaskContext, TaskSection, TaskType


def task_types() -> list[TaskType]:
    return list(TASK_TYPES.values())


__all__ = ["TASK_TYPES", "TaskContext", "TaskSection", "TaskType", "task_types"]
