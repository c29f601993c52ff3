"""Questions of published reference benchmarks, to measure a release's overlap with them.

Only the question texts are read (the full importers, with key phrases and images, live with
the generators). A spec names the format and where the files are:
- `mm-safetybench:DIR`: MM-SafetyBench's `processed_questions/NN-Name.json` files (DIR may be
  the repository's `data/` folder or `processed_questions/` itself); each file is
  `{"0": {"Question": ..., "Key Phrase": ..., ...}, ...}`.
- `safebench:CSV`: FigStep's `safebench.csv` (columns `category_name`, `task_id`, `question`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

from schemas.quality import QuestionText

_MMSB_FILE = re.compile(r"^\d\d-.+\.json$")


class ReferenceError(ValueError):
    """A reference spec or file that cannot be read (the message says which and why)."""


def _mm_safetybench(location: Path) -> list[QuestionText]:
    folder = (
        location / "processed_questions"
        if (location / "processed_questions").is_dir()
        else location
    )
    files = sorted(p for p in folder.glob("*.json") if _MMSB_FILE.match(p.name))
    if not files:
        raise ReferenceError(
            f"{folder}: no NN-Name.json files (MM-SafetyBench processed_questions)"
        )
    out = []
    for path in files:
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
            out += [
                QuestionText(
                    question_id=f"{path.stem}/{key}", scenario=path.stem, text=rec["Question"]
                )
                for key, rec in records.items()
            ]
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
            raise ReferenceError(
                f'{path}: not MM-SafetyBench\'s format ({{"0": {{"Question": ...}}}}): {exc!r}'
            ) from None
    return out


def _safebench(location: Path) -> list[QuestionText]:
    if not location.is_file():
        raise ReferenceError(f"{location}: no such CSV file (FigStep's safebench.csv)")
    with location.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"category_name", "task_id", "question"} - set(rows[0] if rows else {})
    if missing:
        raise ReferenceError(f"{location}: missing column(s) {', '.join(sorted(missing))}")
    return [
        QuestionText(
            question_id=f"{row['category_name']}/{row['task_id']}",
            scenario=row["category_name"],
            text=row["question"],
        )
        for row in rows
    ]


READERS: dict[str, Callable[[Path], list[QuestionText]]] = {
    "mm-safetybench": _mm_safetybench,
    "safebench": _safebench,
}


def reference_label(spec: str) -> str:
    """A name for the reference without this machine's path: `kind:last-path-part`."""
    kind, _, location = spec.partition(":")
    return f"{kind}:{Path(location).name}"


def read_reference(spec: str) -> list[QuestionText]:
    """The questions of a reference benchmark given as `kind:path`."""
    kind, _, location = spec.partition(":")
    if kind not in READERS or not location:
        raise ReferenceError(f"{spec!r}: give FORMAT:PATH with FORMAT one of {', '.join(READERS)}")
    path = Path(location).expanduser()
    if not path.exists():
        raise ReferenceError(f"{spec!r}: {path} does not exist")
    questions = READERS[kind](path)
    if not questions:
        raise ReferenceError(f"{spec!r}: no question found")
    return questions
