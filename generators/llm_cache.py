"""Content-addressed cache of LLM answers: a re-run of the same request makes no call."""

from __future__ import annotations

from pathlib import Path

from generators.llm_types import ChatResult
from schemas.files import write_atomic


class ResponseCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatResult | None:
        path = self._path(key)
        try:
            return ChatResult.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Missing, or unreadable (written by hand, a full disk): a miss, asked again.
            return None

    def put(self, key: str, result: ChatResult) -> None:
        """Store an answer atomically; errors are never cached (they may heal on a re-run)."""
        if result.error is not None or result.text is None:
            return
        write_atomic(self._path(key), result.model_dump_json().encode("utf-8"))
