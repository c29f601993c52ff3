"""Metrics per task type: `refusal` (attack success on unsafe samples) and `over_refusal`
(benign contrast twins). Each registers itself; the report asks every one that applies."""

from evaluation.tasks import over_refusal, refusal  # noqa: F401  (registration)
from evaluation.tasks.base import TASK_TYPES, TaskContext, TaskSection, TaskType


def task_types() -> list[TaskType]:
    return list(TASK_TYPES.values())


__all__ = ["TASK_TYPES", "TaskContext", "TaskSection", "TaskType", "task_types"]
