"""Automatic pre-screen: rule checks that accept or reject each sample with a reason.

Pure functions over records. Rejections are decisions like any other (reviewer "auto:rules"),
so nothing is dropped silently and a human can overturn them in Label Studio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.records import Extraction, ReviewDecision, Sample, normalize_text

RULES_REVIEWER = "auto:rules"
OCR_REVIEWER = "auto:ocr"


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and needle.casefold() in haystack.casefold()


def rule_failures(sample: Sample, extraction: Extraction) -> list[str]:
    """Every rule the sample breaks (empty when it passes)."""
    failures = []
    key = sample.key_phrase
    if not key.strip():
        failures.append("key phrase is empty")
    elif not _contains(extraction.changed_question, key):
        failures.append("key phrase does not occur in the changed question")
    if sample.variant in ("typo", "sd", "sd_typo") and _contains(sample.prompt, key):
        failures.append("the prompt leaks the key phrase")
    return failures


def review_samples(
    samples: Sequence[Sample],
    extractions: Mapping[str, Extraction],
    image_errors: Mapping[str, str],
    ocr_errors: Mapping[str, str] | None = None,
) -> list[ReviewDecision]:
    """One decision per sample.

    `image_errors` maps sample ids to why their image could not be made (e.g. text too long to
    fit); `ocr_errors` maps sample ids to a failed OCR check. A question whose normalised text
    repeats an earlier sample's question in the same variant is rejected as a duplicate.
    """
    decisions = []
    seen: dict[tuple[str, str], str] = {}
    for sample in samples:
        reasons = rule_failures(sample, extractions[sample.question_id])
        if sample.sample_id in image_errors:
            reasons.append(f"image: {image_errors[sample.sample_id]}")
        duplicate_key = (sample.variant, normalize_text(sample.question))
        if duplicate_key in seen:
            reasons.append(f"duplicate question of sample {seen[duplicate_key]}")
        else:
            seen[duplicate_key] = sample.sample_id
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
