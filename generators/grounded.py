"""Grounded questions: per collection image and scenario, questions unsafe because of the image.

The model gets the image's textual description (captions, object labels, visible text) and, with
`llm.vision`, the image itself as an image content part, and answers
`{"questions": [...], "grounding": "..."}`. Each question must refer to the image (name an object,
a caption term or the visible text, or point at "this image"); the term it uses becomes the
sample's key phrase. Ungrounded questions are kept as rejected records with the reason; an answer
with no grounded question at all gets the usual repair turn.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generators.collection import description
from generators.llm_cache import ResponseCache
from generators.llm_stage import ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import Invalid, is_refusal, parse_json_object, validate_questions
from schemas.prompts import render_prompt
from schemas.records import (
    Extraction,
    ImageRecord,
    LLMCall,
    Question,
    Scenario,
    normalize_text,
    stable_id,
)

STAGE = "grounded_questions"
TERMS_PATH = Path(__file__).with_name("grounded_terms.yaml")
GROUNDED_SCHEMA = {
    "type": "object",
    "properties": {
        "questions": {"type": "array", "items": {"type": "string"}},
        "grounding": {"type": "string"},
    },
    "required": ["questions", "grounding"],
    "additionalProperties": False,
}
_MIME = {".png": "image/png", ".jpg": "image/jpeg"}
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Anchor:
    """Where a question refers to its image: the words as the question has them, and the kind."""

    text: str
    kind: str  # "object" | "text" (visible text) | "caption" | "image" (deictic)


@dataclass
class GroundedAnswer:
    grounding: str
    questions: list[tuple[str, Anchor | None]]


@dataclass
class GroundedResult:
    questions: list[Question] = field(default_factory=list)  # accepted and rejected
    extractions: list[Extraction] = field(default_factory=list)  # one per accepted question
    image_of: dict[str, str] = field(default_factory=dict)  # question id -> image id
    calls: list[LLMCall] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (image, scenario, reason)


@cache
def _terms() -> dict[str, Any]:
    return yaml.safe_load(TERMS_PATH.read_text(encoding="utf-8"))


def _find(term: str, question: str) -> str | None:
    """The words of `question` naming `term` (plural allowed), whole words only."""
    words = r"\s+".join(re.escape(w) for w in term.split())
    found = re.search(rf"\b{words}(?:e?s)?\b", question, re.IGNORECASE) if words else None
    return found.group(0) if found else None


def caption_terms(captions: list[str]) -> list[str]:
    terms = _terms()
    stop = set(terms["stopwords"])
    words = {
        w.casefold()
        for c in captions
        for w in _WORD.findall(c)
        if len(w) >= terms["min_caption_term"]
    }
    return sorted(words - stop, key=lambda w: (-len(w), w))


def find_anchor(question: str, described: dict[str, Any]) -> Anchor | None:
    """How `question` refers to the described image, most specific first; None if it does not."""
    for label in sorted(described["objects"], key=len, reverse=True):
        if (found := _find(label, question)) is not None:
            return Anchor(found, "object")
    ocr = described["ocr"]
    if ocr and (found := _find(ocr, question)) is not None:
        return Anchor(found, "text")
    for term in caption_terms(described["captions"]):
        if (found := _find(term, question)) is not None:
            return Anchor(found, "caption")
    for pattern in _terms()["deictic"]:
        if (match := re.search(pattern, question, re.IGNORECASE)) is not None:
            return Anchor(match.group(0), "image")
    return None


def validate_grounded(obj: dict[str, Any], described: dict[str, Any]) -> GroundedAnswer:
    questions = validate_questions(obj)
    grounding = obj.get("grounding")
    if not isinstance(grounding, str) or not grounding.strip():
        raise Invalid("missing_fields", 'missing field "grounding" (a non-empty string)')
    anchored = [(q, find_anchor(q, described)) for q in questions]
    if not any(a is not None and not is_refusal(q) for q, a in anchored):
        raise Invalid(
            "ungrounded",
            "no question refers to the image: name an object, a caption detail or the visible "
            'text from the description, or say "this image"',
        )
    return GroundedAnswer(" ".join(grounding.split()), anchored)


def grounded_question_id(image_id: str, scenario: str, text: str) -> str:
    """Stable per image: the same words about two images are two questions."""
    return stable_id("grounded-question", image_id, scenario, normalize_text(text))


def assign_scenarios(
    images: list[ImageRecord], scenarios: list[Scenario], per_image: int
) -> list[tuple[ImageRecord, Scenario]]:
    """(image, scenario) pairs: each image takes the next `per_image` scenarios in turn."""
    count = min(per_image, len(scenarios))
    return [
        (image, scenarios[(i * count + k) % len(scenarios)])
        for i, image in enumerate(images)
        for k in range(count)
    ]


def image_part(path: Path) -> dict[str, Any]:
    """An OpenAI image content part carrying the file as a data URL."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = _MIME.get(path.suffix.lower(), "image/png")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}}


def _with_image(messages: list[dict[str, Any]], part: dict[str, Any]) -> list[dict[str, Any]]:
    """The user turn as text + image parts (the system turn stays plain text)."""
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}, part]}
        if m["role"] == "user"
        else m
        for m in messages
    ]


def grounded_request(
    image: ImageRecord, scenario: Scenario, n: int, vision: bool, artifacts_dir: Path
) -> ChatRequest:
    described = description(image)
    rendered = render_prompt(STAGE, scenario, n=n, with_image=vision, **described)
    messages: list[dict[str, Any]] = list(rendered.messages)
    if vision:
        messages = _with_image(messages, image_part(artifacts_dir / image.path))
    return ChatRequest(
        stage=STAGE,
        scenario=scenario.slug,
        messages=messages,
        response_schema=GROUNDED_SCHEMA,
        context={
            "scenario": scenario.slug,
            "kind": scenario.kind,
            "n": n,
            "image_id": image.image_id,
            **described,
        },
        prompt=rendered.provenance,
    )


def _image_ref(value: Any, ref: str) -> Any:
    """`value` with every data URL replaced by `ref` (the catalog keeps images once, by id)."""
    if isinstance(value, dict):
        return {k: _image_ref(v, ref) for k, v in value.items()}
    if isinstance(value, list):
        return [_image_ref(v, ref) for v in value]
    if isinstance(value, str) and value.startswith("data:image/"):
        return ref
    return value


def _reason(text: str, anchor: Anchor | None, duplicate: bool, full: bool) -> str | None:
    if is_refusal(text):
        return "refusal: the item is a refusal, not a question"
    if anchor is None:
        return "ungrounded: the question names nothing the image shows"
    if duplicate:
        return "duplicate: the answer repeats this question"
    if full:
        return "surplus: the image already has its questions for this scenario"
    return None


def generate_grounded_questions(
    provider: LLMProvider,
    cache: ResponseCache,
    pairs: list[tuple[ImageRecord, Scenario]],
    n: int,
    vision: bool,
    artifacts_dir: Path,
    run_id: str,
) -> GroundedResult:
    """One validated request per (image, scenario) pair; every question kept with its verdict."""
    requests = [grounded_request(i, s, n, vision, artifacts_dir) for i, s in pairs]

    def validate(request: ChatRequest, result: ChatResult) -> GroundedAnswer:
        return validate_grounded(
            parse_json_object(result.text, result.finish_reason), request.context
        )

    out = GroundedResult()
    for (image, scenario), outcome in zip(
        pairs, ask_validated(provider, cache, requests, validate, run_id), strict=True
    ):
        ref = f"safetyforge-image:{image.image_id}"
        out.calls.extend(
            c.model_copy(update={"request": _image_ref(c.request, ref)}) for c in outcome.calls
        )
        if outcome.value is None:
            out.failures.append((image.image_id, scenario.slug, outcome.reason or "unknown"))
            continue
        call = outcome.calls[-1].call_id
        kept: list[str] = []
        for text, anchor in outcome.value.questions:
            qid = grounded_question_id(image.image_id, scenario.slug, text)
            reason = _reason(text, anchor, qid in kept, len(kept) >= n)
            out.questions.append(
                Question(
                    question_id=qid,
                    scenario=scenario.slug,
                    text=text,
                    status="rejected" if reason else "accepted",
                    reject_reason=reason,
                    call_id=call,
                )
            )
            if reason is not None or anchor is None:
                continue
            kept.append(qid)
            out.image_of[qid] = image.image_id
            out.extractions.append(
                Extraction(
                    question_id=qid,
                    scenario=scenario.slug,
                    question=text,
                    changed_question=text,
                    key_phrase=anchor.text,
                    phrase_type=anchor.kind,
                    raw_text=outcome.raw_text,
                    call_id=call,
                )
            )
    return out
