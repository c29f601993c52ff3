"""The three text layouts (typo, figstep, figstep_pro line) as pure functions: text + preset ->
a picture, in one of two fidelity modes.

`safe` reproduces the reference geometry when the text fits with a margin, and otherwise fits it
(smaller font down to the preset's floor, then breaks inside words) or raises TypographyError:
nothing is ever clipped. `reference` is pixel-identical to the original renderer wherever that
renderer loses no ink (no margin); it moves or shrinks text only when the original would have
clipped it, and records that deviation in the picture's parameters.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from PIL import Image, features

from typography.errors import TypographyError
from typography.fonts import ResolvedFont, UserFonts, missing_fonts, resolve_chain
from typography.layout import (
    Ink,
    Run,
    advance_to,
    crop,
    draw_lines,
    line_pitch,
    metric_box,
    place,
    place_reference,
    run_width,
    to_runs,
)
from typography.presets import FigStepPreset, FigStepProPreset, TypoPreset
from typography.text import clusters, is_rtl

Fidelity = Literal["reference", "safe"]


@dataclass
class Drawn:
    """What a layout produced: the picture, the text it shows, the size and fonts actually
    used, and the geometry to record with it."""

    image: Image.Image
    text: str
    font_size: int
    fonts: list[ResolvedFont]
    params: dict[str, Any] = field(default_factory=dict)


@cache
def layout_engine() -> str:
    return "raqm" if features.check("raqm") else "basic"


@cache
def lines_for(font_names: tuple[str, ...], user: UserFonts = ()) -> Lines:
    return Lines(font_names, user)


class Lines:
    """Measures and splits text into font runs for one preset's font chain."""

    def __init__(self, font_names: tuple[str, ...], user: UserFonts = ()) -> None:
        self.chain = resolve_chain(font_names, user)
        self.missing = missing_fonts(font_names, user)
        self.primary = self.chain[0]

    def runs(self, text: str) -> list[Run]:
        return to_runs(text, self.chain, self.missing)

    def width(self, text: str, size: int) -> float:
        return run_width(self.runs(text), size)

    def used(self, lines: list[list[Run]]) -> list[ResolvedFont]:
        fonts = [self.primary]
        for run in (r for line in lines for r in line):
            if all(run.font is not f for f in fonts):
                fonts.append(run.font)
        return fonts


def _no_ink(ink: Ink) -> bool:
    return ink.box == (0, 0, 0, 0)


def _placement(
    ink: Ink, canvas: tuple[int, int], margin: int, fidelity: Fidelity
) -> tuple[int, int] | None:
    return place_reference(ink, canvas) if fidelity == "reference" else place(ink, canvas, margin)


def _deviation(fidelity: Fidelity, shift: tuple[int, int], size: int, reference_size: int):
    """What a reference-mode picture does differently from the original renderer (None: nothing)."""
    if fidelity != "reference":
        return None
    notes = []
    if size != reference_size:
        notes.append(f"font size {size} instead of {reference_size}: the text would be clipped")
    if shift != (0, 0):
        notes.append(f"moved by {list(shift)} px: ink would cross the left or top edge")
    return "; ".join(notes) or None


# ---- typo (MM-SafetyBench) ----


def _break_word(word: str, measure: Callable[[str], float], limit: float) -> list[str]:
    """Split one word into the fewest pieces, each narrower than `limit`, at cluster bounds."""
    pieces, current = [], ""
    for cluster in clusters(word):
        if current and measure(current + cluster) >= limit:
            pieces.append(current)
            current = cluster
        else:
            current += cluster
    return [*pieces, current]


def wrap_words(words: list[str], measure: Callable[[str], float], width: float) -> list[str]:
    """The reference's greedy wrap: a word joins the line while the summed advances of the line
    and " word" stay below `width`; a new line starts with " word" (the reference's indent)."""
    lines = [words[0]]
    current = measure(words[0])
    for word in words[1:]:
        current += measure(" " + word)
        if current < width:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
            current = measure(" " + word)
    return lines


def draw_typo(
    preset: TypoPreset, text: str, fidelity: Fidelity = "safe", user: UserFonts = ()
) -> Drawn:
    fonts = lines_for(preset.font_names, user)
    for size in preset.sizes():
        drawn = _try_typo(preset, fonts, text, size, break_words=False, fidelity=fidelity)
        if drawn is not None:
            return drawn
    drawn = _try_typo(preset, fonts, text, preset.min_size, break_words=True, fidelity=fidelity)
    if drawn is None:
        raise TypographyError(
            f"text does not fit {preset.width} px wide even at {preset.min_size} px "
            "with words broken"
        )
    return drawn


def _try_typo(
    preset: TypoPreset,
    fonts: Lines,
    text: str,
    size: int,
    *,
    break_words: bool,
    fidelity: Fidelity,
) -> Drawn | None:
    def measure(s: str) -> float:
        return fonts.width(s, size)

    words = text.split(" ")
    if break_words:
        limit = preset.width - 2 * preset.margin - measure(" ")
        words = [piece for word in words for piece in _break_word(word, measure, limit)]
    lines = wrap_words(words, measure, preset.width)
    runs = [fonts.runs(line) for line in lines]
    canvas = (preset.width, size * (len(lines) + 1))
    origin = (float(preset.origin[0]), preset.origin[1] * size / preset.size)
    pitch = line_pitch(fonts.primary, size, preset.spacing)
    ink = draw_lines(
        runs, primary=fonts.primary, size=size, origin=origin, pitch=pitch, canvas=canvas
    )
    if _no_ink(ink):
        raise TypographyError("text draws no visible glyphs")
    shift = _placement(ink, canvas, preset.margin, fidelity)
    if shift is None:
        return None
    params = {
        "layout": "typo",
        "canvas": list(canvas),
        "origin": [origin[0] + shift[0], origin[1] + shift[1]],
        "reference_origin": list(preset.origin),
        "line_pitch": pitch,
        "spacing": preset.spacing,
        "lines": lines,
        "words_broken": break_words,
        "fidelity": fidelity,
    }
    deviation = _deviation(fidelity, shift, size, preset.size)
    if deviation or break_words and fidelity == "reference":
        params["deviation"] = deviation or "words broken: a word is wider than the canvas"
    return Drawn(crop(ink, shift, canvas), text, size, fonts.used(runs), params)


# ---- figstep ----


def draw_figstep(
    preset: FigStepPreset, text: str, fidelity: Fidelity = "safe", user: UserFonts = ()
) -> Drawn:
    fonts = lines_for(preset.font_names, user)
    for size in preset.sizes():
        drawn = _try_figstep(preset, fonts, text, size, fidelity)
        if drawn is not None:
            return drawn
    raise TypographyError(
        f"statement does not fit the {preset.width}x{preset.height} FigStep canvas "
        f"even at {preset.min_size} px ({len(text)} characters)"
    )


def _try_figstep(
    preset: FigStepPreset, fonts: Lines, text: str, size: int, fidelity: Fidelity
) -> Drawn | None:
    # At a smaller font, proportionally more characters fit a line; a narrower wrap is tried
    # when wide glyphs (CJK, fallback fonts) overflow.
    margin = 0 if fidelity == "reference" else preset.margin
    limit = preset.width - preset.origin[0] - margin
    lines: list[str] | None = None
    for wrap in range(math.floor(preset.wrap_chars * preset.size / size), 0, -1):
        candidate = textwrap.wrap(text, wrap)
        if all(fonts.width(line, size) <= limit for line in candidate):
            lines = candidate
            break
    if lines is None:
        return None
    lines = [*lines, *preset.list_items]
    runs = [fonts.runs(line) for line in lines]
    canvas = (preset.width, preset.height)
    pitch = line_pitch(fonts.primary, size, preset.spacing)
    origin = (float(preset.origin[0]), float(preset.origin[1]))
    ink = draw_lines(
        runs, primary=fonts.primary, size=size, origin=origin, pitch=pitch, canvas=canvas
    )
    shift = _placement(ink, canvas, preset.margin, fidelity)
    if shift is None:
        return None
    params = {
        "layout": "figstep",
        "canvas": list(canvas),
        "origin": [origin[0] + shift[0], origin[1] + shift[1]],
        "reference_origin": list(preset.origin),
        "line_pitch": pitch,
        "spacing": preset.spacing,
        "wrap_chars": wrap,
        "lines": lines,
        "list_items": preset.list_items,
        "fidelity": fidelity,
    }
    deviation = _deviation(fidelity, shift, size, preset.size)
    if fidelity == "reference" and deviation is None and wrap != preset.wrap_chars:
        deviation = f"wrapped at {wrap} characters: a line of {preset.wrap_chars} would be clipped"
    if deviation:
        params["deviation"] = deviation
    return Drawn(crop(ink, shift, canvas), text, size, fonts.used(runs), params)


# ---- figstep_pro (one line; the split operation cuts it) ----


def draw_line(
    preset: FigStepProPreset, text: str, fidelity: Fidelity = "safe", user: UserFonts = ()
) -> Drawn:
    """The key phrase on one line on a canvas made to fit it, as the reference did: text bbox
    plus `pad` right and bottom. Records the x of every cluster boundary (`cluster_x`) so the
    line can be cut between any two characters."""
    if is_rtl(text):
        raise TypographyError(
            "FigStep-Pro cuts a left-to-right line; right-to-left text is not supported"
        )
    fonts = lines_for(preset.font_names, user)
    size = preset.size
    parts = clusters(text)
    runs = fonts.runs(text)
    width = math.ceil(run_width(runs, size)) + preset.origin[0]
    rough = (width + preset.pad, 2 * size + preset.origin[1])
    origin = (float(preset.origin[0]), float(preset.origin[1]))
    ink = draw_lines([runs], primary=fonts.primary, size=size, origin=origin, pitch=0, canvas=rough)
    if _no_ink(ink):
        raise TypographyError("text draws no visible glyphs")
    left, top, right, bottom = (v - ink.pad for v in ink.box)
    box = metric_box(runs, primary=fonts.primary, size=size, origin=origin)
    if fidelity == "reference":
        # The original's canvas is the metric box + pad; ink beyond it would be clipped.
        shift = (max(0, -left), max(0, -top))
        extent = (box[2], box[3])
        clipped = right > box[2] + preset.pad or bottom > box[3] + preset.pad
        if clipped:
            extent = (max(right, box[2]), max(bottom, box[3]))
    else:
        # Wider where ink overhangs the bbox; ink keeps the margin on the left and top.
        shift = (max(0, preset.margin - left), max(0, preset.margin - top))
        extent = (max(right, box[2]), max(bottom, box[3]))
        clipped = False
    canvas = (extent[0] + shift[0] + preset.pad, extent[1] + shift[1] + preset.pad)
    line = crop(ink, shift, canvas)
    cluster_x = [
        round(origin[0] + shift[0] + advance_to(runs, size, len("".join(parts[:c]))))
        for c in range(len(parts) + 1)
    ]
    params = {
        "layout": "figstep_pro",
        "canvas": list(canvas),
        "origin": [origin[0] + shift[0], origin[1] + shift[1]],
        "reference_origin": list(preset.origin),
        "pad": preset.pad,
        "fidelity": fidelity,
        "clusters": parts,
        "cluster_x": cluster_x,
    }
    deviation = _deviation(fidelity, shift, size, size)
    if clipped:
        deviation = "canvas widened: ink overhangs the text box" + (
            f"; {deviation}" if deviation else ""
        )
    if deviation:
        params["deviation"] = deviation
    return Drawn(line, text, size, fonts.used([runs]), params)


LAYOUTS = {"typo": draw_typo, "figstep": draw_figstep, "figstep_pro": draw_line}
