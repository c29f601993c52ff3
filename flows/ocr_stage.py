"""OCR quality checks over the rendered images, feeding auto-review (review.ocr_check)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from schemas.records import ImageRecord, OcrCheck, Sample
from schemas.variants import VariantSpec

Fields = Callable[[Sample], Mapping[str, Any]]


def ocr_expectations(
    samples: Sequence[Sample], specs: Mapping[str, VariantSpec], fields: Fields
) -> dict[str, str]:
    """{sample id: the text its images must read back as}, for samples whose variant's spec
    asks for an `ocr` check."""
    wanted = {}
    for sample in samples:
        spec = specs.get(sample.variant)
        check = next((c for c in spec.checks if c.check == "ocr"), None) if spec else None
        if check is not None and sample.image_ids:
            wanted[sample.sample_id] = check.expected.format(**fields(sample))
    return wanted


def _check(
    sample: Sample, expected: str, images: Mapping[str, ImageRecord], artifacts: Path
) -> OcrCheck:
    from typography import ocr_check, ocr_check_fragments

    records = [images[i] for i in sample.image_ids]
    if len(records) > 1:  # fragments: read alone and side by side
        result = ocr_check_fragments(records, artifacts, expected)
        return OcrCheck(
            image_id=records[0].image_id,
            kind=sample.variant,
            expected=expected,
            recognized=result.joined_recognized,
            cer=result.joined_cer,
            leaked_words=result.leaked_words,
            missing_words=result.missing_words,
            error=result.error,
            engine=result.engine,
        )
    record = records[0]
    single = ocr_check(record, artifacts, expected)
    return OcrCheck(
        image_id=record.image_id,
        kind=sample.variant,
        expected=single.expected,
        recognized=single.recognized,
        cer=single.cer,
        error=single.error,
        engine=single.engine,
    )


def failure_reason(check: OcrCheck, max_cer: float) -> str | None:
    """Why a check fails auto-review, or None. Images that could not be checked do not fail."""
    if check.leaked_words:
        return "fragment alone shows " + ", ".join(repr(w) for w in check.leaked_words)
    if check.missing_words:
        return "joined fragments do not show " + ", ".join(repr(w) for w in check.missing_words)
    if check.cer is not None and check.cer > max_cer:
        return f"character error rate {check.cer:.2f} > {max_cer:.2f}"
    return None


def run_ocr(
    samples: Sequence[Sample],
    expected: Mapping[str, str],
    images: Mapping[str, ImageRecord],
    artifacts: Path,
    known: Mapping[str, OcrCheck],
    max_cer: float,
    console: Console,
) -> tuple[list[OcrCheck], dict[str, str]]:
    """Check every image of the samples in `expected` (sample id -> text) not checked before
    (`known`, by first image id); return the new checks and {sample_id: failure reason}."""
    todo: dict[str, Sample] = {}
    for sample in samples:
        if sample.sample_id in expected:
            key = sample.image_ids[0]
            if key not in known:
                todo.setdefault(key, sample)
    fresh: list[OcrCheck] = []
    if todo:
        # tesseract runs as a subprocess: threads keep every core busy.
        with (
            console.status(f"OCR check of {len(todo)} images"),
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
        ):
            fresh = list(
                pool.map(
                    lambda s: _check(s, expected[s.sample_id], images, artifacts), todo.values()
                )
            )
    checks = {**known, **{c.image_id: c for c in fresh}}
    failures = {}
    for sample in samples:
        check = checks.get(sample.image_ids[0]) if sample.sample_id in expected else None
        if check is not None and (reason := failure_reason(check, max_cer)) is not None:
            failures[sample.sample_id] = reason
    return fresh, failures
