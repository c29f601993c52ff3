"""What the evaluated model is sent: the release row's prompt with its image(s) as OpenAI chat
image content parts, and a deterministic, scenario-balanced choice of rows for --limit."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from schemas._base import StrictModel
from schemas.evaluation import SampleLabel
from schemas.records import stable_id

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


class EvalSample(StrictModel):
    """One release row: its text fields and image bytes (in release order)."""

    sample_id: str
    question_id: str = ""  # shared by all variants of one question ("" in old releases)
    label: SampleLabel = "unsafe"  # contrast configs hold benign twins
    config: str = ""
    scenario: str
    scenario_name: str
    variant: str
    question: str
    prompt: str
    images: list[bytes] = []
    task: str = "refusal"  # the release's task type (schemas.tasks)
    labels: dict[str, str] = {}  # its label columns (gold answers, dimensions, categories)


def mime_type(data: bytes) -> str:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    raise ValueError("image bytes are neither PNG, JPEG, GIF nor WebP")


def sample_messages(sample: EvalSample) -> list[dict[str, Any]]:
    """One user turn: image parts in release order (FigStep-Pro fragments left to right), then
    the prompt; a text-only sample sends the prompt as plain content."""
    if not sample.images:
        return [{"role": "user", "content": sample.prompt}]
    parts: list[dict[str, Any]] = [
        {
            "type": "image_url",
            "image_url": {
                "url": f"data:{mime_type(data)};base64,{base64.b64encode(data).decode('ascii')}"
            },
        }
        for data in sample.images
    ]
    parts.append({"type": "text", "text": sample.prompt})
    return [{"role": "user", "content": parts}]


def select_samples(samples: Sequence[EvalSample], limit: int | None) -> list[EvalSample]:
    """At most `limit` samples, taken round-robin over scenarios, each scenario's questions in a
    fixed hash order: every config gets the same questions, every scenario its share."""
    if limit is None or limit >= len(samples):
        return list(samples)
    by_scenario: dict[str, list[EvalSample]] = defaultdict(list)
    for sample in samples:
        by_scenario[sample.scenario].append(sample)
    queues = [
        sorted(group, key=lambda s: (stable_id("eval-limit", s.question), s.sample_id))
        for _, group in sorted(by_scenario.items())
    ]
    chosen: list[EvalSample] = []
    depth = 0
    while len(chosen) < limit:
        for queue in queues:
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen
