"""What `safetyforge export inspect` records beside the dataset (export.json), readable without
inspect_ai installed."""

from __future__ import annotations

from evaluation.judges import JudgeOptions
from schemas._base import StrictModel


class ExportSpec(StrictModel):
    name: str  # NAME@VERSION of a local release, ORG/NAME[@REVISION] on the Hub
    release: str
    revision: str | None = None
    split: str
    configs: list[str]
    judge: JudgeOptions
    aggregation: str
    samples: int
