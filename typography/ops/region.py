"""`typo_region`: the typography part of a stacked picture (SD+TYPO, HADES), for OCR checks."""

from __future__ import annotations

from dataclasses import replace

from typography.errors import TypographyError
from typography.ops.base import Picture, op


@op("typo_region")
def typo_region(pictures: list[Picture]) -> list[Picture]:
    """Crop each stacked picture to its last part (the typography), from its `typo_top`."""
    out = []
    for picture in pictures:
        top = picture.meta.get("typo_top")
        if top is None:
            raise TypographyError("typo_region needs a stacked picture (one with typo_top)")
        image = picture.image
        out.append(replace(picture, image=image.crop((0, int(top), image.width, image.height))))
    return out
