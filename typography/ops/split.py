"""`split`: cut a one-line picture between characters into fragments (FigStep-Pro).

Two cut rules. `safe` (ours): one cut in the middle of every word of at least
`min_word_letters` letters, so no fragment shows such a word whole, then more mid-word cuts in the
longest pieces up to `min_fragments`; it refuses a phrase that would need more than
`max_fragments`. `reference` (the 50 published FigStep-Pro sets): one cut in the middle of
every word, short words included ("l|aw", "f|or"), so n words give n + 1 fragments, up to 7;
beyond that the shortest words stay whole.
"""

from __future__ import annotations

from itertools import pairwise

from typography.errors import TypographyError
from typography.ops.base import Picture, op
from typography.text import long_words

# Defaults per rule: (min_fragments, max_fragments, min_word_letters).
RULES = {"safe": (2, 4, 4), "reference": (2, 7, 1)}


def word_spans(parts: list[str]) -> list[tuple[int, int]]:
    """Cluster spans [start, end) of the space-separated words."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, cluster in enumerate([*parts, " "]):
        if cluster != " " and start is None:
            start = i
        elif cluster == " " and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _letters(parts: list[str], span: tuple[int, int]) -> int:
    return sum(ch.isalpha() for c in parts[span[0] : span[1]] for ch in c)


def cut_points(
    parts: list[str], rule: str, min_fragments: int, max_fragments: int, min_letters: int
) -> list[int]:
    """Cluster indices where to cut (see the module docstring for the rules)."""
    words = word_spans(parts)
    eligible = [w for w in words if _letters(parts, w) >= min_letters]
    if rule == "reference" and len(eligible) + 1 > max_fragments:
        # Cut the longest words; a word left whole must be shorter than 4 letters.
        eligible = sorted(eligible, key=lambda w: -_letters(parts, w))[: max_fragments - 1]
        whole = [w for w in words if w not in eligible and _letters(parts, w) >= 4]
        if whole:
            raise TypographyError(
                f"key phrase has {len(words)} words; cutting each needs {len(words) + 1} "
                f"fragments, more than the maximum {max_fragments}"
            )
    cuts = {(a + b) // 2 for a, b in eligible}
    cuts.discard(0)  # a one-letter first word: its middle is the line's start
    needed = len(cuts) + 1
    if needed > max_fragments:
        raise TypographyError(
            f"key phrase has {len(cuts)} words of {min_letters}+ letters; cutting "
            f"inside each needs {needed} fragments, more than the maximum {max_fragments}"
        )
    inside = {i for a, b in words for i in range(a + 1, b)}  # bounds strictly inside a word
    while len(cuts) + 1 < min_fragments:
        bounds = [0, *sorted(cuts), len(parts)]
        a, b = max(pairwise(bounds), key=lambda span: span[1] - span[0])
        options = sorted(
            (i for i in inside - cuts if a < i < b), key=lambda i: abs(i - (a + b) / 2)
        )
        if not options:
            raise TypographyError(
                f"key phrase {''.join(parts)!r} is too short to cut into {min_fragments} fragments"
            )
        cuts.add(options[0])
    return sorted(cuts)


def fragment_leaks(fragments: list[str], phrase: str, min_letters: int) -> list[str]:
    """Key-phrase words (min_letters+) that some single fragment shows whole."""
    words = long_words(phrase, min_letters)
    return [w for w in words if any(w in f.casefold() for f in fragments)]


@op("split")
def split(
    pictures: list[Picture],
    *,
    fidelity: str = "safe",
    min_fragments: int | None = None,
    max_fragments: int | None = None,
    min_word_letters: int | None = None,
) -> list[Picture]:
    """Cut the last (one-line) picture inside words into fragments, left to right."""
    if fidelity not in RULES:
        raise TypographyError(f"fidelity must be reference or safe, not {fidelity!r}")
    if not pictures or "cluster_x" not in pictures[-1].meta:
        raise TypographyError(
            "split needs a one-line text picture (a figstep_pro preset) before it"
        )
    line = pictures[-1]
    default_min, default_max, default_letters = RULES[fidelity]
    low = default_min if min_fragments is None else min_fragments
    high = default_max if max_fragments is None else max_fragments
    letters = default_letters if min_word_letters is None else min_word_letters
    parts: list[str] = line.meta["clusters"]
    cuts = cut_points(parts, fidelity, low, high, letters)
    bounds = [0, *cuts, len(parts)]
    texts = ["".join(parts[a:b]) for a, b in pairwise(bounds)]
    # No fragment may show a whole word this long (the reference cuts shorter words too, but
    # only words of 4+ letters are what a fragment must never show).
    guarded = letters if fidelity == "safe" else 4
    leaks = fragment_leaks(texts, line.text, guarded)
    if leaks:
        raise TypographyError(f"a fragment would show whole key-phrase words: {leaks}")
    width, height = line.image.size
    x_cuts = [0, *(line.meta["cluster_x"][c] for c in cuts), width]
    meta = {k: v for k, v in line.meta.items() if k not in ("clusters", "cluster_x")}
    meta |= {
        "cut_x": x_cuts,
        "fragments": texts,
        "cut_rule": fidelity,
        "cut_min_word_letters": letters,
        "min_word_letters": guarded,  # what the fragment OCR check guards
    }
    fragments = [
        Picture(
            image=line.image.crop((a, 0, b, height)),
            text=text,
            fonts=line.fonts,
            font_size=line.font_size,
            meta=meta,
        )
        for (a, b), text in zip(pairwise(x_cuts), texts, strict=True)
    ]
    return [*pictures[:-1], *fragments]
