"""Read-back checks over the rendered images, feeding auto-review (review.ocr_check): OCR
(tesseract) for text, decoding for machine-readable codes (QR). A spec's check may `prepare`
the images first (operations that undo its disguise: rotate back, flatten on white, upscale,
cut the query tiles out of a grid); several images are then read stacked top to bottom.

The checks run beside the image stage: `ReadBack.submit` takes each sample's images as soon as
they are drawn, and a thread pool reads them while rendering continues (the OCR engines release
the GIL while they recognise). An image checked in an earlier run (its id is a hash of its render
inputs) is not read again."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from schemas.images import image_bytes
from schemas.records import ImageRecord, OcrCheck, Sample
from schemas.variants import CheckSpec, VariantSpec

READ_BACK = ("ocr", "decode")


def read_back_check(
    spec: VariantSpec | None, fields: Mapping[str, Any]
) -> tuple[CheckSpec, str] | None:
    """The spec's read-back check (`ocr` or `decode`) and the text the images must give back."""
    check = next((c for c in spec.checks if c.check in READ_BACK), None) if spec else None
    return None if check is None else (check, check.expected.format(**fields))


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


def _decode(variant: str, expected: str, records: list[ImageRecord], artifacts: Path) -> OcrCheck:
    from typography.decode import decode_qr, decoder
    from typography.ocr import cer

    found = decode_qr(_images(records, artifacts, []))
    recognized = next((t for t in found if t == expected), found[0] if found else "")
    return OcrCheck(
        image_id=records[0].image_id,
        kind=variant,
        expected=expected,
        recognized=recognized,
        cer=cer(recognized, expected),
        error=None if found else "no QR code found",
        engine=decoder(),
        check="decode",
    )


def _check(
    variant: str,
    check: CheckSpec,
    expected: str,
    spec: VariantSpec,
    records: list[ImageRecord],
    artifacts: Path,
    engine: str,
) -> OcrCheck:
    from typography import ocr_check, ocr_check_fragments
    from typography.ocr import downscale, ocr_image

    if check.check == "decode":
        return _decode(variant, expected, records, artifacts)
    if len(records) > 1 and any(c.check == "fragment_leak" for c in spec.checks):
        result = ocr_check_fragments(records, artifacts, expected, engine)  # alone and joined
        return OcrCheck(
            image_id=records[0].image_id,
            kind=variant,
            expected=expected,
            recognized=result.joined_recognized,
            cer=result.joined_cer,
            leaked_words=result.leaked_words,
            missing_words=result.missing_words,
            error=result.error,
            engine=result.engine,
        )
    if len(records) == 1 and not check.prepare:
        single = ocr_check(records[0], artifacts, expected, engine)
    else:
        steps = [{"op": s.op, **s.params} for s in check.prepare]
        single = ocr_image(
            downscale(_images(records, artifacts, steps), records[0].font_size),
            records[0].image_id,
            expected,
            records[0].params.get("list_items", []),
            engine=engine,
        )
    return OcrCheck(
        image_id=records[0].image_id,
        kind=variant,
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


CheckFor = Callable[[str, str], tuple[CheckSpec, str] | None]


class ReadBack:
    """Read-back checks on a thread pool, fed while the images are drawn.

    `check_for(question_id, variant)` gives a sample's check and expected text (None: nothing to
    check); `known` holds earlier runs' checks by first image id. Use as a context manager:
    leaving it waits for (or, on an error, cancels) the checks still running."""

    def __init__(
        self,
        check_for: CheckFor,
        specs: Mapping[str, VariantSpec],
        artifacts: Path,
        known: Mapping[str, OcrCheck],
        engine: str,
        workers: int,
    ) -> None:
        self._check_for = check_for
        self._specs = specs
        self._artifacts = artifacts
        self._known = dict(known)
        self._engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read-back")
        self._futures: dict[str, Future[OcrCheck]] = {}
        self._lock = threading.Lock()  # submit may be called from the render stage's threads

    def __enter__(self) -> ReadBack:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, question_id: str, variant: str, records: Sequence[ImageRecord]) -> None:
        """Start checking one sample's images unless they need no check or are checked already."""
        wanted = self._check_for(question_id, variant) if records else None
        if wanted is None:
            return
        check, text = wanted
        key = records[0].image_id
        with self._lock:
            if key in self._known or key in self._futures:
                return
            self._futures[key] = self._pool.submit(
                _check,
                variant,
                check,
                text,
                self._specs[variant],
                list(records),
                self._artifacts,
                self._engine,
            )

    def submit_samples(self, samples: Sequence[Sample], images: Mapping[str, ImageRecord]) -> None:
        """Every sample not submitted yet (images fetched from a shared store, collection ones)."""
        for sample in samples:
            self.submit(sample.question_id, sample.variant, [images[i] for i in sample.image_ids])

    @property
    def submitted(self) -> int:
        return len(self._futures)

    def results(
        self, samples: Sequence[Sample], max_cer: float
    ) -> tuple[list[OcrCheck], dict[str, str]]:
        """Wait for every check; return the new ones and {sample_id: failure reason}."""
        fresh = [future.result() for future in self._futures.values()]
        checks = {**self._known, **{c.image_id: c for c in fresh}}
        failures = {}
        for sample in samples:
            wanted = self._check_for(sample.question_id, sample.variant)
            found = checks.get(sample.image_ids[0]) if wanted and sample.image_ids else None
            if found is not None and (reason := failure_reason(found, max_cer)) is not None:
                failures[sample.sample_id] = reason
        return fresh, failures
