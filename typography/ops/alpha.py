"""`alpha`: the text only in the transparency layer. Every pixel's colour is black; the ink is
opaque and the background transparent, so a viewer that drops the alpha channel shows a black
square, and one that composites on white shows black text on white."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image, ImageOps

from typography.ops.base import Picture, op


@op("alpha")
def alpha(pictures: list[Picture]) -> list[Picture]:
    """Turn each light-background picture into black RGBA whose alpha is its ink."""
    out = []
    for picture in pictures:
        ink = ImageOps.invert(picture.image.convert("L"))
        image = Image.new("RGBA", picture.image.size, (0, 0, 0, 0))
        image.putalpha(ink)
        out.append(replace(picture, image=image, meta={**picture.meta, "alpha_text": True}))
    return out
