"""`rotate`: turn every picture by a multiple of 90 degrees (MML's rotated canvas)."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, op

# Exact pixel permutations (no resampling), counter-clockwise as Pillow counts.
_TURNS = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


@op("rotate")
def rotate(pictures: list[Picture], *, degrees: int = 180) -> list[Picture]:
    """Rotate each picture counter-clockwise by 90, 180 or 270 degrees."""
    turn = _TURNS.get(int(degrees) % 360)
    if turn is None:
        raise TypographyError(f"rotate takes 90, 180 or 270 degrees, not {degrees!r}")
    return [
        replace(p, image=p.image.transpose(turn), meta={**p.meta, "rotated": int(degrees) % 360})
        for p in pictures
    ]
