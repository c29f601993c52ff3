"""Text clean-up and segmentation shared by every renderer: pure functions, no drawing."""

from __future__ import annotations

import re
import unicodedata

from typography.errors import TypographyError

# Format characters we keep: they change shaping (Arabic, Indic, emoji sequences), not content.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}
# Categories that never belong in rendered text: controls, format (bidi overrides can hide or
# reorder text), surrogates, private use.
_REJECTED_CATEGORIES = {"Cc", "Cf", "Cs", "Co"}


def clean_text(text: str) -> str:
    """NFC-normalise, turn any whitespace run (newlines and tabs included) into one space, and
    reject empty text and control/format characters with an error that names the character."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise TypographyError("text is empty (nothing but whitespace)")
    for char in text:
        if unicodedata.category(char) in _REJECTED_CATEGORIES and char not in _ALLOWED_FORMAT:
            raise TypographyError(f"text contains the control character {describe(char)}")
    return text


def describe(char: str) -> str:
    """'x' (U+0078 LATIN SMALL LETTER X): how errors name a character."""
    name = unicodedata.name(char, "") or f"category {unicodedata.category(char)}"
    return f"{char!r} (U+{ord(char):04X} {name})"


def _joins_previous(char: str) -> bool:
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char in _ALLOWED_FORMAT
        or 0xFE00 <= ord(char) <= 0xFE0F  # variation selectors (emoji / text presentation)
        or 0x1F3FB <= ord(char) <= 0x1F3FF  # emoji skin-tone modifiers
    )


def clusters(text: str) -> list[str]:
    """Split into user-perceived characters (approximate grapheme clusters): a base character
    with its combining marks, joiners and variation selectors. Cuts and font choice never split
    one of these."""
    result: list[str] = []
    for char in text:
        if result and (_joins_previous(char) or result[-1].endswith("\u200d")):
            result[-1] += char
        else:
            result.append(char)
    return result


def is_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(c) in ("R", "AL") for c in text)


def long_words(text: str, min_letters: int = 4) -> list[str]:
    """Words (split on spaces, trimmed of punctuation) with at least `min_letters` letters,
    casefolded and deduplicated in order: what a FigStep-Pro fragment must never show whole."""
    words: list[str] = []
    for raw in text.split(" "):
        word = raw.strip(".,;:!?\"'()[]{}").casefold()
        if sum(c.isalpha() for c in word) >= min_letters and word not in words:
            words.append(word)
    return words
