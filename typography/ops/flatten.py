"""`flatten`: composite transparent pictures on a solid background (undoes `alpha` for a check)."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image, ImageColor

from typography.errors import TypographyError
from typography.ops.base import Picture, op


@op("flatten")
def flatten(pictures: list[Picture], *, background: str = "white") -> list[Picture]:
    """Composite each picture over `background` (a colour name or #rrggbb), giving RGB."""
    try:
        colour = ImageColor.getrgb(background)
    except ValueError:
        raise TypographyError(f"flatten: unknown colour {background!r}") from None
    out = []
    for picture in pictures:
        rgba = picture.image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (*colour[:3], 255))
        out.append(replace(picture, image=Image.alpha_composite(ground, rgba).convert("RGB")))
    return out
