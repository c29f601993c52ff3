"""OCR quality checks with tesseract: character error rate for typo/figstep images, and the
FigStep-Pro promise (no fragment alone shows a key-phrase word; the joined fragments do)."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image

from schemas._base import StrictModel
from schemas.images import image_bytes
from schemas.records import ImageRecord
from typography.text import long_words

# Script (first word of a letter's Unicode name) -> tesseract language pack (Debian:
# tesseract-ocr-<lang>). Only `eng` is installed by default.
_LANGUAGES = {
    "LATIN": "eng",
    "CJK": "chi_sim",
    "HIRAGANA": "jpn",
    "KATAKANA": "jpn",
    "HANGUL": "kor",
    "ARABIC": "ara",
    "HEBREW": "heb",
    "CYRILLIC": "rus",
    "GREEK": "ell",
    "DEVANAGARI": "hin",
}
# Page segmentation: 6 = a block of lines, 7 = a single line.
_BLOCK, _LINE = "--psm 6", "--psm 7"


class OcrResult(StrictModel):
    image_id: str
    expected: str  # the text the image should show (FigStep: statement + list numbers)
    recognized: str  # tesseract's reading, whitespace collapsed
    cer: float | None  # edits / expected length, whitespace and case ignored; None: not checked
    error: str | None = None  # why no CER (e.g. no tesseract language for this script)
    engine: str
    language: str | None = None


class FragmentOcrResult(StrictModel):
    set_id: str
    key_phrase: str
    words: list[str]  # key-phrase words long enough that no fragment may show them
    fragments_recognized: list[str]
    joined_recognized: str
    leaked_words: list[str]  # shown whole by some single fragment
    missing_words: list[str]  # not readable in the joined fragments
    joined_cer: float | None
    passed: bool  # no leaks, nothing missing
    error: str | None = None
    engine: str


def _tesseract():
    # Imported on first use: pytesseract imports pandas (~0.6 s), which render workers never need.
    import pytesseract

    return pytesseract


@cache
def engine() -> str:
    return f"tesseract {_tesseract().get_tesseract_version()}"


@cache
def _installed_languages() -> frozenset[str]:
    return frozenset(_tesseract().get_languages(config=""))


def language_for(text: str) -> str:
    """The tesseract language for the scripts of `text`'s letters, '+'-joined (e.g. eng+ara)."""
    scripts: list[str] = []
    for char in text:
        if char.isalpha():
            lang = _LANGUAGES.get(unicodedata.name(char, "?").split(" ")[0], "?")
            if lang not in scripts:
                scripts.append(lang)
    return "+".join(scripts or ["eng"])


def _missing_language(lang: str) -> str | None:
    missing = [p for p in lang.split("+") if p not in _installed_languages()]
    if not missing:
        return None
    return (
        f"no tesseract language data for {', '.join(missing)} "
        f"(installed: {', '.join(sorted(_installed_languages()))})"
    )


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(recognized: str, expected: str) -> float:
    """Character error rate ignoring whitespace and case: wrapping (and in-word breaks) moves
    spaces and line ends, and tesseract confuses s/S, c/C, o/O at 90 px, none of which changes
    what a reader understands."""
    want = re.sub(r"\s+", "", expected).casefold()
    got = re.sub(r"\s+", "", recognized).casefold()
    return edit_distance(got, want) / max(1, len(want))


def _open(artifacts_dir: Path, record: ImageRecord) -> Image.Image:
    return Image.open(io.BytesIO(image_bytes(artifacts_dir, record)))


def _read(image: Image.Image, lang: str, config: str) -> str:
    return _collapse(_tesseract().image_to_string(image, lang=lang, config=config))


def ocr_check(record: ImageRecord, artifacts_dir: Path, expected: str) -> OcrResult:
    """OCR one typo/figstep/sd_typo image and score it against `expected` (the key phrase, or
    the FigStep statement: the list numbers drawn below it are added here)."""
    with _open(artifacts_dir, record) as image:
        if record.kind == "sd_typo":  # read only the typography under the SD image
            image = image.crop((0, record.params["typo_top"], image.width, image.height))
        return ocr_image(image, record.image_id, expected, record.params.get("list_items", []))


def ocr_image(
    image: Image.Image, image_id: str, expected: str, list_items: Sequence[str] = ()
) -> OcrResult:
    """OCR an image in memory (e.g. after a check's prepare steps undid a variant's disguise)
    and score it against `expected` plus the non-empty `list_items` drawn below it."""
    items = [i.strip() for i in list_items if i.strip()]
    want = _collapse(" ".join([expected, *items]))
    lang = language_for(want)
    base = {"image_id": image_id, "expected": want, "engine": engine(), "language": lang}
    problem = _missing_language(lang)
    if problem:
        return OcrResult(**base, recognized="", cer=None, error=problem)
    got = _read(image, lang, _BLOCK)
    return OcrResult(**base, recognized=got, cer=cer(got, want))


def ocr_check_fragments(
    records: list[ImageRecord], artifacts_dir: Path, key_phrase: str
) -> FragmentOcrResult:
    """OCR each FigStep-Pro fragment alone and all of them joined left to right (as the model is
    told to read them). Passes when no fragment alone shows a key-phrase word of the preset's
    minimum length and every such word is readable in the joined image."""
    min_letters = records[0].params.get("min_word_letters", 4) if records else 4
    words = long_words(_collapse(key_phrase), min_letters)
    lang = language_for(key_phrase)
    base = {
        "set_id": records[0].params.get("fragment_set_id", "") if records else "",
        "key_phrase": key_phrase,
        "words": words,
        "engine": engine(),
    }
    problem = _missing_language(lang) or (None if records else "no fragments")
    if problem:
        return FragmentOcrResult(
            **base,
            fragments_recognized=[],
            joined_recognized="",
            leaked_words=[],
            missing_words=words,
            joined_cer=None,
            passed=False,
            error=problem,
        )
    images = [_open(artifacts_dir, r) for r in records]
    alone = [_read(image, lang, _LINE) for image in images]
    joined = Image.new("L", (sum(i.width for i in images), max(i.height for i in images)), 255)
    x = 0
    for image in images:
        joined.paste(image.convert("L"), (x, 0))
        x += image.width
    together = _read(joined, lang, _LINE)
    leaked = [w for w in words if any(w in text.casefold() for text in alone)]
    missing = [w for w in words if w not in together.casefold()]
    return FragmentOcrResult(
        **base,
        fragments_recognized=alone,
        joined_recognized=together,
        leaked_words=leaked,
        missing_words=missing,
        joined_cer=cer(together, key_phrase),
        passed=not leaked and not missing,
    )
