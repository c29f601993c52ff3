"""Question deduplication: exact after normalisation, and near-duplicates by content-word overlap."""

from __future__ import annotations

from schemas.records import normalize_text
from schemas.words import content_words, jaccard


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
        tokens = content_words(text)
        for other, other_id in self._tokens:
            if jaccard(tokens, other) >= self.threshold:
                return other_id
        return None

    def add(self, text: str, ident: str) -> None:
        self._exact[normalize_text(text)] = ident
        self._tokens.append((content_words(text), ident))
