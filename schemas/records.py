"""Records that flow between stages and into the catalog.

Every record is plain data (pydantic, extra="forbid"); ids are stable hashes of content so the same
question and variant get the same id in every run and every release version.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from schemas._base import StrictModel

ScenarioKind = Literal["harmful", "should_disclaim"]
Status = Literal["accepted", "rejected"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_text(text: str) -> str:
    """Canonical form used for ids and exact deduplication: NFC, casefold, single spaces."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(" .?!")


def stable_id(*parts: str, length: int = 16) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def question_id(scenario: str, text: str) -> str:
    return stable_id("question", scenario, normalize_text(text))


def sample_id(question: str, variant: str) -> str:
    """Stable across runs and release versions: same question (by id) and variant, same id."""
    return stable_id("sample", question, variant)


class Scenario(StrictModel):
    id: str
    slug: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    kind: ScenarioKind
    phrase_types: list[str] = Field(min_length=1)
    policy: str


class Taxonomy(StrictModel):
    name: str
    title: str
    source: str = ""
    scenarios: list[Scenario] = Field(min_length=1)

    def scenario(self, slug: str) -> Scenario:
        for scenario in self.scenarios:
            if scenario.slug == slug:
                return scenario
        known = ", ".join(s.slug for s in self.scenarios)
        raise KeyError(f"taxonomy {self.name!r} has no scenario {slug!r} (known: {known})")


class PromptProvenance(StrictModel):
    """Which template produced a request; stored with every LLM-derived record."""

    template: str
    template_version: str
    prompt_sha256: str


# How a provider says it never got an answer (timeouts, dropped connections, server errors,
# rate limits past the retries). Such errors heal: they are never cached, a run with any is
# incomplete (nothing published by default) and a re-run asks exactly those requests again.
TRANSIENT_PREFIX = "gave up after"


def is_transient(error: str | None) -> bool:
    return error is not None and error.startswith(TRANSIENT_PREFIX)


class LLMCall(StrictModel):
    """One logical request to a chat model: raw input and output kept beside parsed fields."""

    call_id: str  # sha256 of (provider, base_url, model, messages, parameters)
    run_id: str = ""
    stage: Literal[
        "questions",
        "extraction",
        "fill",
        "repair",
        "judge",
        "evaluate",
        "grounded_questions",
        "derive",
    ]
    scenario: str
    provider: str
    model: str
    base_url: str | None = None
    offline: bool
    prompt: PromptProvenance
    request: dict[str, Any]
    response_text: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    retries: int = 0
    cached: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Question(StrictModel):
    question_id: str
    scenario: str
    text: str
    status: Status = "accepted"
    reject_reason: str | None = None
    call_id: str  # the LLM call that wrote it; "" for an imported question
    round: int = 0
    # Where an imported question came from, e.g. "01-Illegal_Activitiy/5" (mm-safetybench).
    original_id: str | None = None


class Extraction(StrictModel):
    """The key-phrase record of one question: the LLM's fields plus the derived FigStep-Pro template."""

    question_id: str
    scenario: str
    question: str
    changed_question: str = ""
    key_phrase: str = ""
    phrase_type: str = ""
    rephrased_question: str = ""
    rephrased_question_sd: str = ""
    figstep_statement: str = ""
    figstep_pro_template: str = ""
    status: Status = "accepted"
    reject_reason: str | None = None
    # Rules an accepted record fails without being dropped (imported records are kept as
    # published and flagged); they travel to the samples and the release's `warnings` column.
    warnings: list[str] = Field(default_factory=list)
    original_id: str | None = None
    # Membership of the tiny split as the imported benchmark publishes it; None: by rule.
    tiny: bool | None = None
    # A labelled task's labels of this question (schemas.tasks.LABEL_COLUMNS); empty: refusal.
    labels: dict[str, str] = Field(default_factory=dict)
    raw_text: str | None = None
    call_id: str | None = None


class ImageRecord(StrictModel):
    """One image file in the artifact store and everything needed to reproduce it."""

    image_id: str  # hash of the render inputs: same inputs, same file, nothing re-rendered
    path: str  # relative to the artifacts directory
    sha256: str  # of the image's bytes (its whole file, or its byte_range of a pack)
    # [offset, length] when the file packs several images back to back (a FigStep-Pro set's
    # fragments); read it with schemas.images.image_bytes.
    byte_range: list[int] | None = None
    # The variant that made it ("sd" for a Stable Diffusion image, "collection" for a copied one).
    kind: str
    text: str = ""
    width: int
    height: int
    params: dict[str, Any] = Field(default_factory=dict)
    font_path: str | None = None
    font_sha256: str | None = None
    font_size: int | None = None
    pillow_version: str | None = None
    freetype_version: str | None = None


class OcrCheck(StrictModel):
    """What tesseract read in an image (or a FigStep-Pro fragment set, keyed by its first image)."""

    image_id: str
    kind: str
    expected: str
    recognized: str
    cer: float | None = None  # character error rate, whitespace and case ignored
    leaked_words: list[str] = Field(default_factory=list)  # FigStep-Pro: whole in one fragment
    missing_words: list[str] = Field(default_factory=list)  # FigStep-Pro: unreadable when joined
    error: str | None = None  # why it could not be checked (e.g. no language pack)
    engine: str = ""
    # "ocr": text read back; "decode": a machine-readable code (QR) decoded.
    check: Literal["ocr", "decode"] = "ocr"


class DerivedText(StrictModel):
    """Text a registered derivation made for one question (a variant's encoded title, LLM
    sub-questions, a translation): kept accepted or rejected with its reason."""

    question_id: str
    derivation: str
    # The derivation's parameters (e.g. the target language) and their canonical JSON (the key).
    params: dict[str, Any] = Field(default_factory=dict)
    params_key: str = "{}"
    fields: dict[str, str] = Field(default_factory=dict)
    status: Status = "accepted"
    reject_reason: str | None = None
    call_ids: list[str] = Field(default_factory=list)


class Sample(StrictModel):
    """One benchmark row: a question in one variant, with the exact prompt and image(s)."""

    sample_id: str
    question_id: str
    scenario: str
    variant: str  # a variant spec's name
    question: str
    key_phrase: str
    phrase_type: str
    prompt: str
    image_ids: list[str] = Field(default_factory=list)
    status: Literal["pending", "accepted", "rejected"] = "pending"
    # Carried from the key-phrase record so a release keeps what the originals had.
    original_id: str | None = None
    changed_question: str = ""
    figstep_statement: str = ""
    figstep_pro_template: str = ""
    warnings: list[str] = Field(default_factory=list)
    tiny: bool | None = None  # the imported benchmark's own tiny split; None: by rule
    labels: dict[str, str] = Field(default_factory=dict)  # a labelled task's (Extraction.labels)


class ReviewDecision(StrictModel):
    sample_id: str
    reviewer: str  # "auto:rules", "auto:ocr", or a Label Studio user
    decision: Literal["accept", "reject"]
    reason: str | None = None
    corrected_key_phrase: str | None = None
    # A labelled task's labels as the annotator corrected them (only the changed ones).
    corrected_labels: dict[str, str] | None = None
    comment: str | None = None
    decided_at: datetime = Field(default_factory=utcnow)


class RunRecord(StrictModel):
    """One pipeline run: its resolved config, timing, outcome and summary counts."""

    run_id: str
    name: str
    config: dict[str, Any]
    config_sha256: str
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: Literal["running", "completed", "failed"] = "running"
    flow_run_id: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)


class ReleaseRecord(StrictModel):
    name: str
    version: str
    path: str
    run_id: str
    created_at: datetime = Field(default_factory=utcnow)
    counts: dict[str, int] = Field(default_factory=dict)
    manifest_sha256: str
    sample_ids: list[str] = Field(default_factory=list)
