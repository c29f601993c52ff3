"""`blend`: JOOD's mixup, the text picture and a harmless image averaged pixel by pixel."""

from __future__ import annotations

from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, fit_cover, merged, op


@op("blend")
def blend(pictures: list[Picture], *, lam: float = 0.5) -> list[Picture]:
    """Mix the last picture (weight `lam`) with the one before it (weight 1 - lam), which is
    scaled to cover the last one's size."""
    if len(pictures) < 2:
        raise TypographyError("blend needs two pictures: a base image, then the text picture")
    if not 0.0 < lam < 1.0:
        raise TypographyError(f"blend lam must be between 0 and 1, not {lam}")
    base, top = pictures[-2], pictures[-1]
    mixed = Image.blend(fit_cover(base.image, top.image.size), top.image.convert("RGB"), lam)
    meta = {**top.meta, "lam": lam, "base_size": list(base.image.size)}
    return [*pictures[:-2], merged([top], mixed, top.text, meta)]
