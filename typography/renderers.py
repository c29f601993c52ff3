"""The three layouts (typo, figstep, figstep_pro) as pure functions: text + preset -> pictures.

Each one reproduces its reference's geometry when the text fits, and otherwise fits it (smaller
font down to the preset's floor, then breaks inside words) or raises TypographyError.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

from PIL import Image, features

from typography.errors import TypographyError
from typography.fonts import ResolvedFont, missing_fonts, resolve_chain
from typography.layout import (
    Ink,
    Run,
    advance_to,
    crop,
    draw_lines,
    line_pitch,
    metric_box,
    place,
    run_width,
    to_runs,
)
from typography.presets import FigStepPreset, FigStepProPreset, TypoPreset
from typography.text import clusters, is_rtl, long_words


@dataclass
class Drawn:
    """What a layout produced: one image (or the fragments), the texts they show, the size and
    fonts actually used, and the geometry to record with them."""

    images: list[Image.Image]
    texts: list[str]
    font_size: int
    fonts: list[ResolvedFont]
    params: dict[str, Any] = field(default_factory=dict)


@cache
def layout_engine() -> str:
    return "raqm" if features.check("raqm") else "basic"


@cache
def _lines(font_names: tuple[str, ...]) -> _Lines:
    return _Lines(font_names)


class _Lines:
    """Measures and splits text into font runs for one preset's font chain."""

    def __init__(self, font_names: tuple[str, ...]) -> None:
        self.chain = resolve_chain(font_names)
        self.missing = missing_fonts(font_names)
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


def draw_typo(preset: TypoPreset, text: str) -> Drawn:
    fonts = _lines(preset.font_names)
    for size in preset.sizes():
        drawn = _try_typo(preset, fonts, text, size, break_words=False)
        if drawn is not None:
            return drawn
    drawn = _try_typo(preset, fonts, text, preset.min_size, break_words=True)
    if drawn is None:
        raise TypographyError(
            f"text does not fit {preset.width} px wide even at {preset.min_size} px "
            "with words broken"
        )
    return drawn


def _try_typo(
    preset: TypoPreset, fonts: _Lines, text: str, size: int, *, break_words: bool
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
    shift = place(ink, canvas, preset.margin)
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
    }
    return Drawn([crop(ink, shift, canvas)], [text], size, fonts.used(runs), params)


# ---- figstep ----


def draw_figstep(preset: FigStepPreset, text: str) -> Drawn:
    fonts = _lines(preset.font_names)
    for size in preset.sizes():
        drawn = _try_figstep(preset, fonts, text, size)
        if drawn is not None:
            return drawn
    raise TypographyError(
        f"statement does not fit the {preset.width}x{preset.height} FigStep canvas "
        f"even at {preset.min_size} px ({len(text)} characters)"
    )


def _try_figstep(preset: FigStepPreset, fonts: _Lines, text: str, size: int) -> Drawn | None:
    # At a smaller font, proportionally more characters fit a line; a narrower wrap is tried
    # when wide glyphs (CJK, fallback fonts) overflow.
    limit = preset.width - preset.origin[0] - preset.margin
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
    shift = place(ink, canvas, preset.margin)
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
    }
    return Drawn([crop(ink, shift, canvas)], [text], size, fonts.used(runs), params)


# ---- figstep_pro ----


def cut_points(text: str, preset: FigStepProPreset) -> list[int]:
    """Cluster indices where to cut: one cut in the middle of every word with at least
    `min_word_letters` letters (so no fragment shows it whole), more mid-word cuts in the longest
    pieces until there are `min_fragments`; refuses when that needs more than `max_fragments`."""
    parts = clusters(text)
    words: list[tuple[int, int]] = []  # cluster spans [start, end) of space-separated words
    start = None
    for i, cluster in enumerate([*parts, " "]):
        if cluster != " " and start is None:
            start = i
        elif cluster == " " and start is not None:
            words.append((start, i))
            start = None
    cuts = {
        (a + b) // 2
        for a, b in words
        if sum(ch.isalpha() for c in parts[a:b] for ch in c) >= preset.min_word_letters
    }
    needed = len(cuts) + 1
    if needed > preset.max_fragments:
        raise TypographyError(
            f"key phrase has {len(cuts)} words of {preset.min_word_letters}+ letters; cutting "
            f"inside each needs {needed} fragments, more than the maximum {preset.max_fragments}"
        )
    inside = {i for a, b in words for i in range(a + 1, b)}  # bounds strictly inside a word
    while len(cuts) + 1 < preset.min_fragments:
        bounds = [0, *sorted(cuts), len(parts)]
        a, b = max(pairwise(bounds), key=lambda span: span[1] - span[0])
        options = sorted(
            (i for i in inside - cuts if a < i < b), key=lambda i: abs(i - (a + b) / 2)
        )
        if not options:
            raise TypographyError(
                f"key phrase {text!r} is too short to cut into {preset.min_fragments} fragments"
            )
        cuts.add(options[0])
    return sorted(cuts)


def fragment_leaks(fragments: list[str], phrase: str, min_letters: int) -> list[str]:
    """Key-phrase words (min_letters+) that some single fragment shows whole."""
    words = long_words(phrase, min_letters)
    return [w for w in words if any(w in f.casefold() for f in fragments)]


def draw_figstep_pro(preset: FigStepProPreset, text: str) -> Drawn:
    if is_rtl(text):
        raise TypographyError(
            "FigStep-Pro cuts a left-to-right line; right-to-left text is not supported"
        )
    fonts = _lines(preset.font_names)
    size = preset.size
    parts = clusters(text)
    cuts = cut_points(text, preset)
    bounds = [0, *cuts, len(parts)]
    texts = ["".join(parts[a:b]) for a, b in pairwise(bounds)]
    leaks = fragment_leaks(texts, text, preset.min_word_letters)
    if leaks:
        raise TypographyError(f"a fragment would show whole key-phrase words: {leaks}")
    runs = fonts.runs(text)
    width = math.ceil(run_width(runs, size)) + preset.origin[0]
    rough = (width + preset.pad, 2 * size + preset.origin[1])
    origin = (float(preset.origin[0]), float(preset.origin[1]))
    ink = draw_lines([runs], primary=fonts.primary, size=size, origin=origin, pitch=0, canvas=rough)
    if _no_ink(ink):
        raise TypographyError("text draws no visible glyphs")
    # The canvas is made to fit, as the reference did: text bbox + `pad` right and bottom, and
    # wider where ink overhangs the bbox; ink keeps the margin on the left and top.
    left, top, right, bottom = (v - ink.pad for v in ink.box)
    box = metric_box(runs, primary=fonts.primary, size=size, origin=origin)
    shift = (max(0, preset.margin - left), max(0, preset.margin - top))
    canvas = (
        max(right, box[2]) + shift[0] + preset.pad,
        max(bottom, box[3]) + shift[1] + preset.pad,
    )
    line = crop(ink, shift, canvas)
    x_cuts = [
        0,
        *(
            round(origin[0] + shift[0] + advance_to(runs, size, len("".join(parts[:c]))))
            for c in cuts
        ),
        canvas[0],
    ]
    images = [line.crop((a, 0, b, canvas[1])) for a, b in pairwise(x_cuts)]
    params = {
        "layout": "figstep_pro",
        "canvas": list(canvas),
        "origin": [origin[0] + shift[0], origin[1] + shift[1]],
        "reference_origin": list(preset.origin),
        "pad": preset.pad,
        "cut_x": x_cuts,
        "fragments": texts,
        "min_word_letters": preset.min_word_letters,
    }
    return Drawn(images, texts, size, fonts.used([runs]), params)
