"""Labelled task types (privacy, classification, captioning_toxicity): fixed questions about
labelled collection images. One module per task type, registered by name."""

from generators.tasks import captioning_toxicity, classification, privacy  # noqa: F401
from generators.tasks.base import TASK_BUILDERS, LabelError, TaskBuilder, sample_per_label
from generators.tasks.run import TaskQuestionsResult, task_questions

__all__ = [
    "TASK_BUILDERS",
    "LabelError",
    "TaskBuilder",
    "TaskQuestionsResult",
    "sample_per_label",
    "task_questions",
]
