"""Read-back checks over the rendered images, feeding auto-review (review.ocr_check): OCR
(tesseract) for text, decoding for machine-readable codes (QR). A spec's check may `prepare`
the images first (operations that undo its disguise: rotate back, flatten on white, upscale,
cut the query tiles out of a grid); several images are then read stacked top to bottom."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console

from schemas.images import image_bytes
from schemas.records import ImageRecord, OcrCheck, Sample
from schemas.variants import CheckSpec, VariantSpec

Fields = Callable[[Sample], Mapping[str, Any]]
READ_BACK = ("ocr", "decode")


def ocr_expectations(
    samples: Sequence[Sample], specs: Mapping[str, VariantSpec], fields: Fields
) -> dict[str, tuple[CheckSpec, str]]:
    """{sample id: (its variant's read-back check, the text its images must give back)}, for
    samples with images whose spec has an `ocr` or `decode` check."""
    wanted = {}
    for sample in samples:
        spec = specs.get(sample.variant)
        check = next((c for c in spec.checks if c.check in READ_BACK), None) if spec else None
        if check is not None and sample.image_ids:
            wanted[sample.sample_id] = (check, check.expected.format(**fields(sample)))
    return wanted


def _images(records: list[ImageRecord], artifacts: Path, steps: list[dict[str, Any]]):
    """The records' images after the prepare steps, as one picture (several: stacked)."""
    from typography.ops import Picture, prepare

    pictures = []
    for record in records:
        with Image.open(io.BytesIO(image_bytes(artifacts, record))) as opened:
            pictures.append(Picture(image=opened.copy(), text=record.text, meta=record.params))
    pictures = prepare(steps, pictures)
    if len(pictures) == 1:
        return pictures[0].image
    images = [p.image.convert("RGB") for p in pictures]
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height
    return sheet


def _decode(sample: Sample, expected: str, records: list[ImageRecord], artifacts: Path) -> OcrCheck:
    from typography.decode import decode_qr, decoder
    from typography.ocr import cer

    found = decode_qr(_images(records, artifacts, []))
    recognized = next((t for t in found if t == expected), found[0] if found else "")
    return OcrCheck(
        image_id=records[0].image_id,
        kind=sample.variant,
        expected=expected,
        recognized=recognized,
        cer=cer(recognized, expected),
        error=None if found else "no QR code found",
        engine=decoder(),
        check="decode",
    )


def _check(
    sample: Sample,
    check: CheckSpec,
    expected: str,
    spec: VariantSpec,
    images: Mapping[str, ImageRecord],
    artifacts: Path,
) -> OcrCheck:
    from typography import ocr_check, ocr_check_fragments
    from typography.ocr import ocr_image

    records = [images[i] for i in sample.image_ids]
    if check.check == "decode":
        return _decode(sample, expected, records, artifacts)
    if len(records) > 1 and any(c.check == "fragment_leak" for c in spec.checks):
        result = ocr_check_fragments(records, artifacts, expected)  # alone and side by side
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
    if len(records) == 1 and not check.prepare:
        single = ocr_check(records[0], artifacts, expected)
    else:
        steps = [{"op": s.op, **s.params} for s in check.prepare]
        single = ocr_image(
            _images(records, artifacts, steps),
            records[0].image_id,
            expected,
            records[0].params.get("list_items", []),
        )
    return OcrCheck(
        image_id=records[0].image_id,
        kind=sample.variant,
        expected=single.expected,
        recognized=single.recognized,
        cer=single.cer,
        error=single.error,
        engine=single.engine,
    )


def failure_reason(check: OcrCheck, max_cer: float) -> str | None:
    """Why a check fails auto-review, or None. Images that could not be OCR-checked (no
    language pack) do not fail; a code that does not decode to its text does."""
    if check.check == "decode":
        if check.recognized != check.expected:
            return check.error or f"QR code decodes to {check.recognized!r}, not the expected text"
        return None
    if check.leaked_words:
        return "fragment alone shows " + ", ".join(repr(w) for w in check.leaked_words)
    if check.missing_words:
        return "joined fragments do not show " + ", ".join(repr(w) for w in check.missing_words)
    if check.cer is not None and check.cer > max_cer:
        return f"character error rate {check.cer:.2f} > {max_cer:.2f}"
    return None


def run_ocr(
    samples: Sequence[Sample],
    expected: Mapping[str, tuple[CheckSpec, str]],
    images: Mapping[str, ImageRecord],
    artifacts: Path,
    known: Mapping[str, OcrCheck],
    max_cer: float,
    console: Console,
    specs: Mapping[str, VariantSpec],
) -> tuple[list[OcrCheck], dict[str, str]]:
    """Check every image of the samples in `expected` (sample id -> check and text) not checked
    before (`known`, by first image id); return the new checks and {sample_id: failure reason}."""
    todo: dict[str, Sample] = {}
    for sample in samples:
        if sample.sample_id in expected:
            key = sample.image_ids[0]
            if key not in known:
                todo.setdefault(key, sample)

    def check(sample: Sample) -> OcrCheck:
        spec_check, text = expected[sample.sample_id]
        return _check(sample, spec_check, text, specs[sample.variant], images, artifacts)

    fresh: list[OcrCheck] = []
    if todo:
        # tesseract runs as a subprocess: threads keep every core busy.
        with (
            console.status(f"Read-back check of {len(todo)} images"),
            ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
        ):
            fresh = list(pool.map(check, todo.values()))
    checks = {**known, **{c.image_id: c for c in fresh}}
    failures = {}
    for sample in samples:
        found = checks.get(sample.image_ids[0]) if sample.sample_id in expected else None
        if found is not None and (reason := failure_reason(found, max_cer)) is not None:
            failures[sample.sample_id] = reason
    return fresh, failures
