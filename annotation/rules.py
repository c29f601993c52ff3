"""Automatic pre-screen: rule checks that accept or reject each sample with a reason.

Pure functions over records. Rejections are decisions like any other (reviewer "auto:rules"),
so nothing is dropped silently and a human can overturn them in Label Studio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.records import Extraction, ReviewDecision, Sample, normalize_text
from schemas.variants import VariantSpec

RULES_REVIEWER = "auto:rules"
OCR_REVIEWER = "auto:ocr"


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and needle.casefold() in haystack.casefold()


def rule_failures(sample: Sample, extraction: Extraction, spec: VariantSpec | None) -> list[str]:
    """Every rule the sample breaks (empty when it passes). A field the variant consumes must
    have a value (an imported record may lack one its source never had). A rule the key-phrase
    record is already flagged for (an imported record kept as published, warning code
    `key_phrase_absent`, `leak`) is not held against it again."""
    failures = []
    for name in spec.fields if spec else ["key_phrase"]:
        value = sample.key_phrase if name == "key_phrase" else getattr(extraction, name, None)
        if isinstance(value, str) and not value.strip():
            failures.append(f"{name.replace('_', ' ')} is empty")
    key = sample.key_phrase
    if (
        key.strip()
        and extraction.changed_question  # a source without changed questions has none to check
        and not _contains(extraction.changed_question, key)
        and not _flagged(extraction, "key_phrase_absent")
    ):
        failures.append("key phrase does not occur in the changed question")
    for check in spec.checks if spec else []:
        if check.check == "prompt_excludes":
            hidden = check.expected.format(**sample.model_dump())
            if (
                hidden.strip()
                and _contains(sample.prompt, hidden)
                and not _flagged(extraction, "leak")
            ):
                failures.append("the prompt leaks the key phrase")
    return failures


def label_failures(labels: Mapping[str, str]) -> list[str]:
    """A labelled task's rules (corrected labels are checked again): a privacy control needs a
    gold answer and a protected entity none; a classification label is yes or no; a caption
    sample names its category."""
    failures = []
    if labels.get("role") == "control" and not labels.get("gold_answer", "").strip():
        failures.append("a control entity has no gold answer")
    if labels.get("role") == "protected" and labels.get("gold_answer", "").strip():
        failures.append("a protected entity has a gold answer (its right answer is a refusal)")
    if "role" in labels and labels["role"] not in ("protected", "control"):
        failures.append(f"role must be protected or control, not {labels['role']!r}")
    if "dimension" in labels and labels.get("gold_label") not in ("yes", "no"):
        failures.append(f"gold_label must be yes or no, not {labels.get('gold_label')!r}")
    if "category" in labels and not labels["category"].strip():
        failures.append("category is empty")
    return failures


def _flagged(extraction: Extraction, code: str) -> bool:
    return any(w.split(":", 1)[0] == code for w in extraction.warnings)


def review_samples(
    samples: Sequence[Sample],
    extractions: Mapping[str, Extraction],
    specs: Mapping[str, VariantSpec],
    image_errors: Mapping[str, str],
    ocr_errors: Mapping[str, str] | None = None,
) -> list[ReviewDecision]:
    """One decision per sample.

    `specs` (by variant name) say which checks apply; `image_errors` maps sample ids to why
    their image could not be made (e.g. text too long to fit); `ocr_errors` maps sample ids to a
    failed OCR check. A question whose normalised text repeats an earlier sample's question in
    the same variant is rejected as a duplicate, unless its record is flagged `duplicate` (an
    imported benchmark's own repeat, kept as published).
    """
    decisions = []
    seen: dict[tuple[str, str], str] = {}
    for sample in samples:
        extraction = extractions[sample.question_id]
        reasons = rule_failures(sample, extraction, specs.get(sample.variant))
        reasons += label_failures(sample.labels)
        if sample.sample_id in image_errors:
            reasons.append(f"image: {image_errors[sample.sample_id]}")
        duplicate_key = (sample.variant, normalize_text(sample.question))
        if sample.labels:  # a labelled task asks the same fixed question of every image
            duplicate_key += tuple(sample.image_ids)
        if duplicate_key not in seen:
            seen[duplicate_key] = sample.sample_id
        elif not _flagged(extraction, "duplicate"):
            reasons.append(f"duplicate question of sample {seen[duplicate_key]}")
        reviewer = RULES_REVIEWER
        if not reasons and ocr_errors and sample.sample_id in ocr_errors:
            reasons.append(f"ocr: {ocr_errors[sample.sample_id]}")
            reviewer = OCR_REVIEWER
        decisions.append(
            ReviewDecision(
                sample_id=sample.sample_id,
                reviewer=reviewer,
                decision="reject" if reasons else "accept",
                reason="; ".join(reasons) or None,
            )
        )
    return decisions
