"""`rows`: cut a multi-line text picture into bands of whole lines, top to bottom
(`figstep_multi`: the FigStep list spread over several images given in order).

Lines are shared out as evenly as possible (earlier bands get the extra line); each cut is the
blank pixel row nearest the nominal boundary between two lines, so no glyph is cut."""

from __future__ import annotations

import numpy as np

from typography.errors import TypographyError
from typography.ops.base import Picture, op


def _blank_row_near(image, nominal: int, reach: int) -> int:
    ink = np.asarray(image.convert("L")) < 250
    empty = ~ink.any(axis=1)
    for offset in range(reach + 1):
        for y in (nominal - offset, nominal + offset):
            if 0 < y < len(empty) and empty[y]:
                return y
    return nominal


@op("rows")
def rows(pictures: list[Picture], *, n: int = 3) -> list[Picture]:
    """Cut the last picture (drawn with a line layout) into `n` bands of whole lines."""
    picture = pictures[-1]
    lines = picture.meta.get("lines")
    pitch = picture.meta.get("line_pitch")
    if not lines or not pitch or "origin" not in picture.meta:
        raise TypographyError("rows needs a picture drawn with a line layout (e.g. figstep)")
    if not 1 <= n <= len(lines):
        raise TypographyError(f"rows: cannot spread {len(lines)} lines over {n} images")
    top = picture.meta["origin"][1]
    per, extra = divmod(len(lines), n)
    sizes = [per + (i < extra) for i in range(n)]
    firsts = np.cumsum([0, *sizes]).tolist()
    cuts = [0]
    for first in firsts[1:-1]:
        cuts.append(_blank_row_near(picture.image, round(top + first * pitch), round(pitch / 2)))
    cuts.append(picture.image.height)
    bands = []
    for index in range(n):
        band_lines = lines[firsts[index] : firsts[index + 1]]
        meta = {
            **picture.meta,
            "band": index,
            "band_lines": band_lines,
            "band_y": [cuts[index], cuts[index + 1]],
        }
        bands.append(
            Picture(
                image=picture.image.crop((0, cuts[index], picture.image.width, cuts[index + 1])),
                text=" ".join(line.strip() for line in band_lines),
                fonts=picture.fonts,
                font_size=picture.font_size,
                meta=meta,
            )
        )
    return [*pictures[:-1], *bands]
