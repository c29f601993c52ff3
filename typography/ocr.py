"""OCR quality checks: character error rate for typo/figstep images, and the FigStep-Pro promise
(no fragment alone shows a key-phrase word; the joined fragments do). The engine is chosen by
name (typography.ocr_engines: tesseract by default, rapidocr).

Checks are made cheap where it costs no accuracy: images are scaled down so their text is
OCR_TEXT_PX high (tesseract reads 40 px text as well as 90 px, in half the time), and a
one-line image is read in single-line mode."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from schemas._base import StrictModel
from schemas.images import image_bytes
from schemas.records import ImageRecord
from typography.ocr_engines import get_engine
from typography.text import long_words

# Script (first word of a letter's Unicode name) -> language code (tesseract's; Debian:
# tesseract-ocr-<lang>).
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
# Text height (font size in px) images are scaled down to before reading.
OCR_TEXT_PX = 40
DEFAULT_ENGINE = "tesseract"


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


def engine_version(name: str = DEFAULT_ENGINE) -> str:
    return get_engine(name).version()


def language_for(text: str) -> str:
    """The tesseract language for the scripts of `text`'s letters, '+'-joined (e.g. eng+ara)."""
    scripts: list[str] = []
    for char in text:
        if char.isalpha():
            lang = _LANGUAGES.get(unicodedata.name(char, "?").split(" ")[0], "?")
            if lang not in scripts:
                scripts.append(lang)
    return "+".join(scripts or ["eng"])


def _missing_language(lang: str, name: str) -> str | None:
    installed = get_engine(name).languages()
    missing = [p for p in lang.split("+") if p not in installed]
    if not missing:
        return None
    return (
        f"no {name} language data for {', '.join(missing)} "
        f"(installed: {', '.join(sorted(installed))})"
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


def downscale(image: Image.Image, font_size: int | None) -> Image.Image:
    """`image` scaled so text of `font_size` px is OCR_TEXT_PX high (never enlarged)."""
    if not font_size or font_size <= OCR_TEXT_PX:
        return image
    scale = OCR_TEXT_PX / font_size
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("L").resize(size, Image.Resampling.LANCZOS)


def _read(image: Image.Image, lang: str, name: str, single_line: bool) -> str:
    return _collapse(get_engine(name).read(image, lang, single_line))


def ocr_check(
    record: ImageRecord, artifacts_dir: Path, expected: str, engine: str = DEFAULT_ENGINE
) -> OcrResult:
    """OCR one typo/figstep/sd_typo image and score it against `expected` (the key phrase, or
    the FigStep statement: the list numbers drawn below it are added here)."""
    with _open(artifacts_dir, record) as image:
        if record.kind == "sd_typo":  # read only the typography under the SD image
            image = image.crop((0, record.params["typo_top"], image.width, image.height))
        return ocr_image(
            downscale(image, record.font_size),
            record.image_id,
            expected,
            record.params.get("list_items", []),
            engine=engine,
            single_line=len(record.params.get("lines", [])) == 1,
        )


def ocr_image(
    image: Image.Image,
    image_id: str,
    expected: str,
    list_items: Sequence[str] = (),
    *,
    engine: str = DEFAULT_ENGINE,
    single_line: bool = False,
) -> OcrResult:
    """OCR an image in memory (e.g. after a check's prepare steps undid a variant's disguise)
    and score it against `expected` plus the non-empty `list_items` drawn below it."""
    items = [i.strip() for i in list_items if i.strip()]
    want = _collapse(" ".join([expected, *items]))
    lang = language_for(want)
    base = {"image_id": image_id, "expected": want, "engine": engine_version(engine)}
    problem = _missing_language(lang, engine)
    if problem:
        return OcrResult(**base, language=lang, recognized="", cer=None, error=problem)
    got = _read(image, lang, engine, single_line)
    return OcrResult(**base, language=lang, recognized=got, cer=cer(got, want))


def ocr_check_fragments(
    records: list[ImageRecord], artifacts_dir: Path, key_phrase: str, engine: str = DEFAULT_ENGINE
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
        "engine": engine_version(engine),
    }
    problem = _missing_language(lang, engine) or (None if records else "no fragments")
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
    images = [downscale(_open(artifacts_dir, r), r.font_size) for r in records]
    alone = [_read(image, lang, engine, True) for image in images]
    joined = Image.new("L", (sum(i.width for i in images), max(i.height for i in images)), 255)
    x = 0
    for image in images:
        joined.paste(image.convert("L"), (x, 0))
        x += image.width
    together = _read(joined, lang, engine, True)
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
