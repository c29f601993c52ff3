"""`wordswap`: the key phrase's content words swapped for harmless nouns in the FigStep
statement (MML's word replacement); the mapping goes into the prompt so the model can undo it.

Each content word (3+ letters, not a function word) gets a noun from a fixed list, chosen by a
hash of the word, so the same word always gets the same stand-in."""

from __future__ import annotations

import hashlib
import re

from generators.derive.base import Derivation, DeriveError, Fields, Params, register

STAND_INS = (
    "apple", "violin", "pebble", "lantern", "teapot", "meadow", "pillow", "saddle", "harbor",
    "walnut", "ribbon", "candle", "marble", "feather", "kettle", "orchid", "button", "canyon",
    "blanket", "compass", "tulip", "biscuit", "anchor", "pencil", "turnip", "velvet", "mitten",
    "parrot", "barrel", "cactus", "lemon", "bucket",
)  # fmt: skip
FUNCTION_WORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "without",
        "someone",
        "something",
        "your",
        "their",
        "his",
        "her",
        "its",
        "our",
        "this",
        "that",
        "these",
        "those",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "can",
        "will",
    ]
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def content_words(phrase: str) -> list[str]:
    words = []
    for word in _WORD.findall(phrase):
        lowered = word.casefold()
        if len(lowered) >= 3 and lowered not in FUNCTION_WORDS and lowered not in words:
            words.append(lowered)
    return words


def stand_ins(words: list[str], avoid: str) -> dict[str, str]:
    """word -> a distinct stand-in noun that does not already occur in `avoid`."""
    taken = {w for w in STAND_INS if re.search(rf"\b{w}\b", avoid, flags=re.IGNORECASE)}
    mapping: dict[str, str] = {}
    for word in words:
        start = int(hashlib.sha256(word.encode("utf-8")).hexdigest(), 16) % len(STAND_INS)
        for step in range(len(STAND_INS)):
            candidate = STAND_INS[(start + step) % len(STAND_INS)]
            if candidate not in taken:
                mapping[word] = candidate
                taken.add(candidate)
                break
    return mapping


def _compute(fields: Fields, params: Params) -> dict[str, str]:
    statement = fields["figstep_statement"]
    mapping = stand_ins(content_words(fields["key_phrase"]), statement)
    swapped = statement
    for word, stand_in in mapping.items():
        swapped = re.sub(rf"\b{re.escape(word)}\b", stand_in, swapped, flags=re.IGNORECASE)
    used = {w: s for w, s in mapping.items() if s in swapped}
    if not used:
        raise DeriveError("no word of the key phrase occurs in the FigStep statement to swap")
    return {
        "statement_wordswap": swapped,
        "wordswap_mapping": "; ".join(f'"{s}" means "{w}"' for w, s in used.items()),
    }


register(
    Derivation(
        name="wordswap",
        summary="the key phrase's content words in the FigStep statement swapped for harmless nouns, with the mapping",
        produces=("statement_wordswap", "wordswap_mapping"),
        reads=("key_phrase", "figstep_statement"),
        compute=_compute,
    )
)
