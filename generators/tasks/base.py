"""What a labelled task type is: how it reads an image's labels, which stratum an image falls in
(for `collection.sample_per_label`) and the fixed questions it asks about the image. A new task
type is one module in this package, registered by name, plus its template
(schemas/prompts/task.<name>.yaml)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from schemas.prompts import load_template
from schemas.records import ImageRecord, stable_id


class LabelError(ValueError):
    """An image's labels do not fit its task (missing or invalid); the message says which."""


@dataclass(frozen=True)
class TaskQuestion:
    scenario: str  # a scenario slug of the build's taxonomy (the label group)
    text: str
    labels: dict[str, str]  # the task's release columns (schemas.tasks.LABEL_COLUMNS)


class TaskBuilder(ABC):
    name: ClassVar[str]

    @property
    def template(self) -> dict[str, Any]:
        return load_template(f"task.{self.name}")

    @property
    def template_version(self) -> str:
        return str(self.template["version"])

    @abstractmethod
    def stratum(self, labels: Mapping[str, Any]) -> str:
        """The label stratum of an image (raises LabelError on labels that do not fit)."""

    @abstractmethod
    def questions(self, labels: Mapping[str, Any]) -> list[TaskQuestion]:
        """The fixed questions about one image (raises LabelError on labels that do not fit)."""


def image_labels(image: ImageRecord) -> dict[str, Any]:
    return dict(image.params.get("labels") or {})


def sample_per_label(
    images: Sequence[ImageRecord], builder: TaskBuilder, per_label: int | None, seed: int
) -> list[ImageRecord]:
    """At most `per_label` images of each stratum (a seeded draw), in source order. Images whose
    labels do not fit are kept: the question stage rejects them with the reason."""
    if per_label is None:
        return list(images)
    strata: dict[str, list[ImageRecord]] = defaultdict(list)
    for image in images:
        try:
            strata[builder.stratum(image_labels(image))].append(image)
        except LabelError:
            strata[""].append(image)
    chosen = {i.image_id for i in strata.pop("", [])}
    for group in strata.values():
        ranked = sorted(group, key=lambda i: stable_id("stratum", str(seed), i.image_id))
        chosen.update(i.image_id for i in ranked[:per_label])
    return [i for i in images if i.image_id in chosen]


def as_bool(value: Any, what: str) -> bool:
    """true/false, yes/no, 1/0 (any case) as a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise LabelError(f"{what} must be true or false, not {value!r}")


def required_text(labels: Mapping[str, Any], key: str) -> str:
    value = " ".join(str(labels.get(key) or "").split())
    if not value:
        raise LabelError(f"labels have no {key!r}")
    return value


B = TypeVar("B", bound=type[TaskBuilder])
TASK_BUILDERS: dict[str, TaskBuilder] = {}


def register(name: str) -> Callable[[B], B]:
    def add(cls: B) -> B:
        cls.name = name
        TASK_BUILDERS[name] = cls()
        return cls

    return add
