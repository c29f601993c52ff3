"""Words of a question, as the near-duplicate rule sees them: shared by the question stage's
deduplication and the release's diversity and overlap measures, so both mean the same thing."""

from __future__ import annotations

import re

from schemas.records import normalize_text

_WORD = re.compile(r"[\w']+")
# Words that carry no topic: two questions differing only in these are the same question.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "without",
        "how",
        "what",
        "which",
        "can",
        "could",
        "should",
        "would",
        "do",
        "does",
        "i",
        "me",
        "my",
        "someone",
        "is",
        "it",
        "be",
        "you",
        "your",
        "this",
        "that",
    ]
)


def words(text: str) -> list[str]:
    """Every word of the normalised text, in order (casefolded)."""
    return _WORD.findall(normalize_text(text))


def content_words(text: str) -> frozenset[str]:
    """The set of words that carry the topic (stop words dropped)."""
    return frozenset(w for w in words(text) if w not in STOP_WORDS)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
