"""Lines of text as font runs: fallback font choice, measuring and drawing on a padded canvas.

Every renderer draws white-on-black onto a canvas padded on all sides, reads the ink box from
the pixels, and only then crops to the final canvas: a glyph that would cross an edge is seen
and the text refitted, so nothing is ever clipped silently.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont

from typography.errors import TypographyError
from typography.fonts import ResolvedFont, codepoints, covers, load_font
from typography.text import clusters, describe

_NEUTRAL_BIDI = {"WS", "ON", "CS", "ES", "ET", "EN", "AN", "BN", "NSM"}


@dataclass(frozen=True)
class Run:
    """Consecutive characters drawn with one font."""

    text: str
    font: ResolvedFont


def to_runs(text: str, chain: tuple[ResolvedFont, ...], missing: list[str]) -> list[Run]:
    """Split text into runs, each cluster taking the first font in `chain` with all its glyphs.
    Spaces and punctuation stay with the run they sit in, so an Arabic phrase is one run and is
    shaped right to left as a whole. A cluster no font covers is an error (never a tofu box)."""
    primary = codepoints(chain[0].path, chain[0].index)
    if all(ord(c) in primary for c in text):
        return [Run(text, chain[0])]  # the common case: the main font has every glyph
    runs: list[Run] = []
    for cluster in clusters(text):
        neutral = all(unicodedata.bidirectional(c) in _NEUTRAL_BIDI for c in cluster)
        if neutral and runs and covers(runs[-1].font, cluster):
            font = runs[-1].font
        else:
            font = next((f for f in chain if covers(f, cluster)), None)
        if font is None:
            tried = ", ".join(f.name for f in chain)
            hint = f"; not installed: {', '.join(missing)}" if missing else ""
            raise TypographyError(
                f"no installed font has a glyph for {describe(cluster[0])}"
                f" (fonts tried: {tried}{hint})"
            )
        if runs and runs[-1].font is font:  # fonts are per-process singletons
            runs[-1] = Run(runs[-1].text + cluster, font)
        else:
            runs.append(Run(cluster, font))
    return runs


def face(font: ResolvedFont, size: int) -> ImageFont.FreeTypeFont:
    return load_font(font.path, font.index, size)


def run_width(runs: list[Run], size: int) -> float:
    return sum(face(run.font, size).getlength(run.text) for run in runs)


def advance_to(runs: list[Run], size: int, chars: int) -> float:
    """x advance of the first `chars` characters of the line (where character `chars` starts)."""
    x = 0.0
    for run in runs:
        take = min(chars, len(run.text))
        x += face(run.font, size).getlength(run.text[:take])
        chars -= take
        if chars <= 0:
            break
    return x


def line_pitch(primary: ResolvedFont, size: int, spacing: int) -> int:
    """Pillow's multiline pitch (what the references got): height of "A" plus spacing."""
    return face(primary, size).getbbox("A")[3] + spacing


@dataclass(frozen=True)
class Ink:
    """A drawing on a padded canvas and the box its ink covers, in padded-canvas pixels."""

    image: Image.Image  # mode L, ink 255 on 0
    pad: int
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive); all 0 when no ink


def draw_lines(
    lines: list[list[Run]],
    *,
    primary: ResolvedFont,
    size: int,
    origin: tuple[float, float],
    pitch: int,
    canvas: tuple[int, int],
) -> Ink:
    """Draw lines top-aligned at `origin` (the reference's anchor: ascender line of line 1),
    consecutive lines `pitch` apart, runs of one line sharing the main font's baseline."""
    # Big enough for every line whatever the canvas, so ink outside the canvas is measured too.
    pad = 2 * size
    width = max([canvas[0], *(origin[0] + run_width(runs, size) for runs in lines)])
    height = max(canvas[1], origin[1] + len(lines) * pitch + size)
    image = Image.new("L", (int(width) + 2 * pad, int(height) + 2 * pad), 0)
    draw = ImageDraw.Draw(image)
    ascent = face(primary, size).getmetrics()[0]
    for number, runs in enumerate(lines):
        x = origin[0] + pad
        baseline = origin[1] + pad + number * pitch + ascent
        for run in runs:
            font = face(run.font, size)
            draw.text((x, baseline), run.text, fill=255, font=font, anchor="ls")
            x += font.getlength(run.text)
    box = image.getbbox() or (0, 0, 0, 0)
    if box != (0, 0, 0, 0) and (
        box[0] == 0 or box[1] == 0 or box[2] == image.width or box[3] == image.height
    ):
        raise TypographyError("glyphs extend far beyond the line (stacked marks?); cannot fit")
    return Ink(image=image, pad=pad, box=box)


def metric_box(
    runs: list[Run], *, primary: ResolvedFont, size: int, origin: tuple[float, float]
) -> tuple[int, int, int, int]:
    """Pillow's textbbox of one line drawn at `origin` (ascender anchor): font metrics, not ink."""
    baseline = origin[1] + face(primary, size).getmetrics()[0]
    boxes, x = [], origin[0]
    for run in runs:
        font = face(run.font, size)
        left, top, right, bottom = font.getbbox(run.text, anchor="ls")
        boxes.append((x + left, baseline + top, x + right, baseline + bottom))
        x += font.getlength(run.text)
    return (
        round(min(b[0] for b in boxes)),
        round(min(b[1] for b in boxes)),
        round(max(b[2] for b in boxes)),
        round(max(b[3] for b in boxes)),
    )


def place(ink: Ink, canvas: tuple[int, int], margin: int) -> tuple[int, int] | None:
    """Shift (dx, dy) >= 0 that keeps ink `margin` px from the left/top edges, or None when the
    ink then crosses the right/bottom margin: the text does not fit this canvas."""
    left, top, right, bottom = (v - ink.pad for v in ink.box)
    dx, dy = max(0, margin - left), max(0, margin - top)
    if right + dx > canvas[0] - margin or bottom + dy > canvas[1] - margin:
        return None
    return dx, dy


def place_reference(ink: Ink, canvas: tuple[int, int]) -> tuple[int, int] | None:
    """The reference's own placement (no margin): no shift unless ink would cross the left or
    top edge (then just enough to keep it), or None when ink crosses the right/bottom edge."""
    left, top, right, bottom = (v - ink.pad for v in ink.box)
    dx, dy = max(0, -left), max(0, -top)
    if right + dx > canvas[0] or bottom + dy > canvas[1]:
        return None
    return dx, dy


def crop(ink: Ink, shift: tuple[int, int], canvas: tuple[int, int]) -> Image.Image:
    """The final canvas, black ink on white."""
    left, top = ink.pad - shift[0], ink.pad - shift[1]
    region = ink.image.crop((left, top, left + canvas[0], top + canvas[1]))
    return ImageChops.invert(region)
