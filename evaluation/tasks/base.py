"""A task type: which answers it covers and the tables it reports. A new task type (privacy,
classification, captioning toxicity) is one module in this package, registered by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from evaluation.stats import SampleOutcome, sample_outcomes
from evaluation.tables import Table
from schemas._base import StrictModel
from schemas.evaluation import EvalResult, EvalRun, JudgeProtocol, JudgeVerdict


@dataclass(frozen=True)
class TaskContext:
    """Everything a task type may read: the run, its answers and every judge's verdicts."""

    run: EvalRun
    results: tuple[EvalResult, ...]
    verdicts: dict[str, dict[tuple[str, int], JudgeVerdict]]  # judge -> (sample, attempt) -> v
    scenarios: tuple[str, ...]  # taxonomy order
    variants: tuple[str, ...]
    _outcomes: dict[tuple[str, str, str], list[SampleOutcome]] = field(default_factory=dict)

    @property
    def judges(self) -> list[JudgeProtocol]:
        return self.run.protocol.judges

    def outcomes(
        self, judge: JudgeProtocol, label: str, task: str = "refusal"
    ) -> list[SampleOutcome]:
        """Per-sample outcomes of one judge over the answers with `label` (unsafe / benign) of
        one task type's rows."""
        key = (judge.name, label, task)
        if key not in self._outcomes:
            rows = [r for r in self.results if r.label == label and r.task == task]
            self._outcomes[key] = sample_outcomes(
                rows, self.verdicts.get(judge.name, {}), judge.aggregation
            )
        return self._outcomes[key]


class TaskSection(StrictModel):
    name: str
    title: str
    intro: str
    tables: list[Table]


def task_rows(context: TaskContext, task: str) -> list[EvalResult]:
    """The answered attempts of one task type's rows, in a fixed order (bootstrap resamples
    index them: the same run gives the same intervals whatever order the catalog returns)."""
    rows = [r for r in context.results if r.task == task and r.error is None]
    return sorted(rows, key=lambda r: (r.sample_id, r.attempt))


class TaskType(Protocol):
    name: str
    title: str

    def applies(self, context: TaskContext) -> bool: ...

    def section(self, context: TaskContext) -> TaskSection: ...


T = TypeVar("T")
TASK_TYPES: dict[str, TaskType] = {}


def register_task(cls: Callable[[], T]) -> Callable[[], T]:
    instance = cls()
    TASK_TYPES[instance.name] = instance  # type: ignore[attr-defined]
    return cls
