"""Grounded questions for the offline provider: composed from the image's description and the
template bank `offline_grounded.yaml`, deterministically per seed (no network, no image model)."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schemas.records import normalize_text

BANK_PATH = Path(__file__).with_name("offline_grounded.yaml")


@cache
def load_grounded_bank() -> dict[str, Any]:
    return yaml.safe_load(BANK_PATH.read_text(encoding="utf-8"))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:].rstrip(" .")


def compose_grounded(context: dict[str, Any], seed: int) -> dict[str, Any]:
    """`{"questions": [...], "grounding": "..."}` for a grounded-questions request's context."""
    bank = load_grounded_bank()
    kind, slug = context["kind"], context["scenario"]
    frames = bank["frames"][kind]
    aim = bank["aims"].get(slug) or bank["aims"]["default"][kind]
    captions: list[str] = context.get("captions", [])
    caption = _lower_first(captions[0]) if captions else ""
    anchors = [("object", o) for o in context.get("objects", [])]
    if context.get("ocr"):
        anchors.append(("text", context["ocr"]))
    rng = random.Random(f"{seed}:{slug}:{context.get('image_id', '')}")
    rng.shuffle(anchors)
    # Every anchor once before any anchor twice, each time in a different frame.
    rounds = max(len(f) for f in frames.values())
    candidates = [
        frames[of][(i + r) % len(frames[of])].format(anchor=anchor, caption=caption, aim=aim)
        for r in range(rounds)
        for i, (of, anchor) in enumerate(anchors)
    ]
    candidates += [
        frame.format(caption=caption, aim=aim)
        for frame in frames["caption" if caption else "image"]
    ]
    questions: list[str] = []
    for text in candidates:
        if normalize_text(text) not in {normalize_text(q) for q in questions}:
            questions.append(text)
        if len(questions) == context["n"]:
            break
    shown = ", ".join(o for _, o in anchors) or caption or "an unlabelled scene"
    return {"questions": questions, "grounding": f"The image shows {shown}."}
