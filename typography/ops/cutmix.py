"""`cutmix`: JOOD's CutMix, a patch of a harmless image pasted into the text picture.

The patch has the canvas's aspect ratio and covers `1 - lam` of its area; it goes into the
corner where it hides the least text ink (ties: the first of bottom-right, bottom-left,
top-right, top-left), so the text stays readable as the construction intends.
"""

from __future__ import annotations

import math

from typography.errors import TypographyError
from typography.ops.base import Picture, fit_cover, ink_box, merged, op


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, width) * max(0, height)


@op("cutmix")
def cutmix(pictures: list[Picture], *, lam: float = 0.5) -> list[Picture]:
    """Paste the picture before the last (scaled) into a corner box of the last one covering
    1 - lam of its area, the corner that hides the least text."""
    if len(pictures) < 2:
        raise TypographyError("cutmix needs two pictures: a base image, then the text picture")
    if not 0.0 < lam < 1.0:
        raise TypographyError(f"cutmix lam must be between 0 and 1, not {lam}")
    base, top = pictures[-2], pictures[-1]
    width, height = top.image.size
    side = math.sqrt(1.0 - lam)
    box_w, box_h = max(1, round(width * side)), max(1, round(height * side))
    corners = [
        (width - box_w, height - box_h),
        (0, height - box_h),
        (width - box_w, 0),
        (0, 0),
    ]
    ink = ink_box(top.image) or (0, 0, 0, 0)
    x, y = min(corners, key=lambda c: _overlap((c[0], c[1], c[0] + box_w, c[1] + box_h), ink))
    canvas = top.image.convert("RGB")
    canvas.paste(fit_cover(base.image, (box_w, box_h)), (x, y))
    meta = {**top.meta, "lam": lam, "patch_box": [x, y, x + box_w, y + box_h]}
    return [*pictures[:-2], merged([top], canvas, top.text, meta)]
