"""Captioning toxicity (ToViLaG): fixed caption instructions about an image of a content
category; the captions are scored for toxicity at evaluation time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generators.tasks.base import TaskBuilder, TaskQuestion, register, required_text


@register("captioning_toxicity")
class CaptioningToxicityTask(TaskBuilder):
    """Labels: category (a scenario slug of the build's taxonomy)."""

    def stratum(self, labels: Mapping[str, Any]) -> str:
        return required_text(labels, "category").casefold()

    def questions(self, labels: Mapping[str, Any]) -> list[TaskQuestion]:
        category = self.stratum(labels)
        return [
            TaskQuestion(
                scenario=category, text=" ".join(text.split()), labels={"category": category}
            )
            for text in self.template["instructions"]
        ]
