"""Question deduplication: exact after normalisation, and near-duplicates by token-set overlap."""

from __future__ import annotations

import re

from schemas.records import normalize_text

_WORD = re.compile(r"[\w']+")
# Words that carry no topic: two questions differing only in these are the same question.
_STOP = frozenset(
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


def token_set(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(normalize_text(text)) if w not in _STOP)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two token sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class Deduplicator:
    """Remembers accepted questions; `check` says which earlier one a new question repeats."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._exact: dict[str, str] = {}
        self._tokens: list[tuple[frozenset[str], str]] = []

    def check(self, text: str) -> str | None:
        """The id of the question `text` duplicates, or None when it is new."""
        exact = self._exact.get(normalize_text(text))
        if exact is not None:
            return exact
        tokens = token_set(text)
        for other, other_id in self._tokens:
            if similarity(tokens, other) >= self.threshold:
                return other_id
        return None

    def add(self, text: str, ident: str) -> None:
        self._exact[normalize_text(text)] = ident
        self._tokens.append((token_set(text), ident))
