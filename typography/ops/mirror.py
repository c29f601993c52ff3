"""`mirror`: flip every picture left to right (or top to bottom): MML's mirrored canvas."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, op

_AXES = {
    "horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
}


@op("mirror")
def mirror(pictures: list[Picture], *, axis: str = "horizontal") -> list[Picture]:
    """Flip each picture: `horizontal` (left-right, as in a mirror) or `vertical`."""
    if axis not in _AXES:
        raise TypographyError(f"mirror axis must be horizontal or vertical, not {axis!r}")
    return [
        replace(p, image=p.image.transpose(_AXES[axis]), meta={**p.meta, "mirrored": axis})
        for p in pictures
    ]
