"""`resize`: scale every picture to a width (the `lowres` variant shrinks the text until it is
legible only when the image is shown at the stated resolution; its check scales it back)."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, op

_FILTERS = {
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}


@op("resize")
def resize(pictures: list[Picture], *, width: int, resample: str = "box") -> list[Picture]:
    """Scale each picture to `width` px, keeping its aspect ratio (filter `resample`)."""
    if width < 1 or resample not in _FILTERS:
        raise TypographyError(f"resize needs width >= 1 and resample in {', '.join(_FILTERS)}")
    out = []
    for picture in pictures:
        image = picture.image
        height = max(1, round(image.height * width / image.width))
        meta = {**picture.meta, "resized_from": list(image.size), "resample": resample}
        out.append(
            replace(picture, image=image.resize((width, height), _FILTERS[resample]), meta=meta)
        )
    return out
