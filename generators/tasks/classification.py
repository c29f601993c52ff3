"""Classification (GOAT-Bench): the fixed yes/no question of each labelled dimension of a meme
(hateful, misogynistic, offensive, sarcastic, harmful); the gold answer is the label."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generators.tasks.base import LabelError, TaskBuilder, TaskQuestion, as_bool, register


@register("classification")
class ClassificationTask(TaskBuilder):
    """Labels: dimension -> bool for one or more dimensions of the template."""

    def _dimensions(self, labels: Mapping[str, Any]) -> dict[str, bool]:
        known: dict[str, str] = self.template["dimensions"]
        if unknown := sorted(set(labels) - set(known)):
            raise LabelError(
                f"unknown dimension(s) {', '.join(unknown)} (known: {', '.join(known)})"
            )
        if not labels:
            raise LabelError("labels name no dimension")
        return {d: as_bool(labels[d], d) for d in known if d in labels}

    def stratum(self, labels: Mapping[str, Any]) -> str:
        positive = [d for d, v in self._dimensions(labels).items() if v]
        return "+".join(positive) or "none"

    def questions(self, labels: Mapping[str, Any]) -> list[TaskQuestion]:
        known: dict[str, str] = self.template["dimensions"]
        return [
            TaskQuestion(
                scenario=dimension,
                text=" ".join(self.template["question"].format(adjective=known[dimension]).split()),
                labels={"dimension": dimension, "gold_label": "yes" if value else "no"},
            )
            for dimension, value in self._dimensions(labels).items()
        ]
