"""The `classification` task type (GOAT-Bench): each answer is read as a yes/no prediction of its
dimension (and a probability when it gives one) and scored against the gold label: accuracy,
macro-F1 (mean of the yes- and no-class F1, over the classes that occur), per-dimension F1 and AUROC, with bootstrap 95%
intervals over attempts. No judge is involved: the answer itself is the prediction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.stats import bootstrap
from evaluation.tables import Table, TableCell, fmt_interval, text
from evaluation.tasks.base import TaskContext, TaskSection, register_task, task_rows

TASK = "classification"
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# A probability: 0.83, .5, 1, 0, 1.0 (not part of a longer number) or a percentage.
_PROBABILITY = re.compile(
    r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%|(?<![\d.])(0?\.\d+|[01](?:\.0+)?)(?!\d|\.\d)"
)


@dataclass(frozen=True)
class Prediction:
    label: bool | None  # yes / no; None: the answer says neither
    score: float | None  # P(yes): the stated probability, else 1.0 / 0.0 from the label


def parse_prediction(answer: str) -> Prediction:
    """The first yes/no word and the first probability in an answer."""
    word = _YES_NO.search(answer)
    found = _PROBABILITY.search(answer)
    probability = None
    if found is not None:
        value = float(found.group(1)) / 100 if found.group(1) else float(found.group(2))
        probability = value if 0.0 <= value <= 1.0 else None
    label = (word.group(1).casefold() == "yes") if word else None
    if label is None and probability is not None:
        label = probability >= 0.5
    score = probability if probability is not None else (None if label is None else float(label))
    return Prediction(label=label, score=score)


def f1(gold: np.ndarray, predicted: np.ndarray, positive: bool) -> float:
    tp = np.sum((predicted == positive) & (gold == positive))
    fp = np.sum((predicted == positive) & (gold != positive))
    fn = np.sum((predicted != positive) & (gold == positive))
    return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))


def macro_f1(gold: np.ndarray, predicted: np.ndarray) -> float | None:
    """Mean F1 over the classes that occur in the gold labels or the predictions."""
    classes = {bool(x) for x in np.concatenate([gold, predicted])}
    if not classes:
        return None
    return sum(f1(gold, predicted, c) for c in classes) / len(classes)


def auroc(gold: np.ndarray, scores: np.ndarray) -> float | None:
    """P(score of a positive > score of a negative), ties counting half; None with one class."""
    positive, negative = scores[gold], scores[~gold]
    if positive.size == 0 or negative.size == 0:
        return None
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (positive.size * negative.size))


def _row(name: str, gold: np.ndarray, predicted: np.ndarray, scores: np.ndarray, unparsed: int):
    n = len(gold)
    accuracy = bootstrap(lambda i: float(np.mean(gold[i] == predicted[i])), n)
    macro = bootstrap(lambda i: macro_f1(gold[i], predicted[i]), n)
    positive = bootstrap(lambda i: f1(gold[i], predicted[i], True), n)
    area = bootstrap(lambda i: auroc(gold[i], scores[i]), n)
    return [
        text(name),
        text(n),
        text(int(gold.sum())),
        TableCell(text=fmt_interval(accuracy)),
        TableCell(text=fmt_interval(macro)),
        TableCell(text=fmt_interval(positive)),
        TableCell(text=fmt_interval(area)),
        TableCell(text=str(unparsed), flag="answers without yes/no" if unparsed else None),
    ]


def classification_rows(
    items: Sequence[tuple[str, bool, Prediction]],
) -> list[list[TableCell]]:
    """(dimension, gold, prediction) per attempt -> one row overall, one per dimension."""
    rows = []
    dimensions = sorted({d for d, _, _ in items})
    for name in ["all", *dimensions]:
        mine = [(g, p) for d, g, p in items if name in ("all", d)]
        read = [(g, p) for g, p in mine if p.label is not None]
        gold = np.array([g for g, _ in read], dtype=bool)
        predicted = np.array([bool(p.label) for _, p in read], dtype=bool)
        scores = np.array([p.score for _, p in read], dtype=float)
        rows.append(_row(name, gold, predicted, scores, len(mine) - len(read)))
    return rows


@register_task
class ClassificationTask:
    name = TASK
    title = "Classification: accuracy, macro-F1, AUROC (GOAT-Bench)"

    def applies(self, context: TaskContext) -> bool:
        return any(r.task == TASK for r in context.results)

    def section(self, context: TaskContext) -> TaskSection:
        items = [
            (
                r.labels.get("dimension", r.scenario),
                r.labels.get("gold_label") == "yes",
                parse_prediction(r.response_text or ""),
            )
            for r in task_rows(context, TASK)
        ]
        return TaskSection(
            name=self.name,
            title=self.title,
            intro=(
                "Each answer's first yes/no is its prediction, its first probability (0-1 or a "
                "percentage) its score for AUROC (else 1 for yes, 0 for no). Macro-F1 = mean of "
                "the yes-class and no-class F1 (of the classes that occur); F1 (yes) = the positive class's. Metrics over "
                "attempts, with percentile bootstrap 95% intervals (2,000 resamples). Answers "
                "with neither a yes/no nor a probability are counted apart and left out."
            ),
            tables=[
                Table(
                    title="Classification by dimension",
                    columns=[
                        "dimension",
                        "answers",
                        "gold yes",
                        "accuracy",
                        "macro-F1",
                        "F1 (yes)",
                        "AUROC",
                        "unparsed",
                    ],
                    rows=classification_rows(items),
                )
            ],
        )
