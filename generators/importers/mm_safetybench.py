"""MM-SafetyBench: a folder of `NN-Name.json` files (`processed_questions/`), one per scenario.

Each file maps per-file ids ("0", "1", ...; gaps are real: ids were deleted by hand) to
{"Question", "GPT-Pred", "Changed Question", "Key Phrase", "Phrase Type", "Rephrased Question",
"Rephrased Question(SD)"}. `NN` is the scenario's id in the mm-safetybench taxonomy; the names
are kept as published ("01-Illegal_Activitiy", "02-HateSpeech", ...) in every original id.
The tiny split is the published `TinyVersion_ID_List.json`:
[{"Scenario": "01-Illegal_Activitiy", "Sampled_ID_List": [5, 7, ...]}, ...].
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from generators.importers.base import (
    ImportedRecord,
    ImportFailed,
    existing,
    importer,
    scenario_lookup,
)
from schemas.config import QuestionsFromConfig
from schemas.records import Taxonomy

# Published key -> our field.
FIELDS = {
    "Changed Question": "changed_question",
    "Key Phrase": "key_phrase",
    "Phrase Type": "phrase_type",
    "Rephrased Question": "rephrased_question",
    "Rephrased Question(SD)": "rephrased_question_sd",
}
_FILE = re.compile(r"^(\d+)-.+\.json$")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFailed(f"{path}: not readable JSON: {exc}") from None


def _tiny_ids(path: str | None) -> set[str] | None:
    """Original ids ("<file stem>/<key>") of the published tiny split; None without a list."""
    if path is None:
        return None
    file = existing(path, "tiny_ids")
    data = _load_json(file)
    try:
        return {
            f"{entry['Scenario']}/{int(key)}" for entry in data for key in entry["Sampled_ID_List"]
        }
    except (TypeError, KeyError, ValueError):
        raise ImportFailed(
            f"{file}: expected [{{'Scenario': 'NN-Name', 'Sampled_ID_List': [ids]}}, ...]"
        ) from None


def _record(file: Path, key: str, value: Any, scenario: str, tiny: set[str] | None):
    where = f"{file}: record {key!r}"
    if not isinstance(value, dict) or not isinstance(value.get("Question"), str):
        raise ImportFailed(f'{where}: expected an object with a string "Question"')
    fields = {ours: value.get(theirs) or "" for theirs, ours in FIELDS.items()}
    wrong = [theirs for theirs, ours in FIELDS.items() if not isinstance(fields[ours], str)]
    if wrong:
        raise ImportFailed(f"{where}: {', '.join(wrong)} must be text")
    original_id = f"{file.stem}/{key}"
    raw = value.get("GPT-Pred")
    return ImportedRecord(
        scenario=scenario,
        original_id=original_id,
        question=value["Question"],
        tiny=None if tiny is None else original_id in tiny,
        raw_text=raw if isinstance(raw, str) else None,
        **fields,
    )


@importer(
    "mm-safetybench",
    taxonomy="mm-safetybench",
    options=("tiny_ids",),
    summary="MM-SafetyBench processed_questions/NN-Name.json files (+ TinyVersion_ID_List.json)",
)
def read_mm_safetybench(source: QuestionsFromConfig, taxonomy: Taxonomy) -> list[ImportedRecord]:
    folder = existing(source.path, "mm-safetybench processed_questions", folder=True)
    files = sorted((p for p in folder.iterdir() if _FILE.match(p.name)), key=lambda p: p.name)
    if not files:
        raise ImportFailed(f"{folder}: no NN-Name.json files (e.g. 01-Illegal_Activitiy.json)")
    scenarios = scenario_lookup(taxonomy)
    tiny = _tiny_ids(source.tiny_ids)
    records = []
    for file in files:
        number = _FILE.match(file.name).group(1)  # type: ignore[union-attr]
        scenario = scenarios.get(number.lstrip("0") or "0")
        if scenario is None:
            raise ImportFailed(
                f"{file}: {number} is no scenario id of the {taxonomy.name} taxonomy"
            )
        data = _load_json(file)
        if not isinstance(data, dict):
            raise ImportFailed(f"{file}: expected an object of records keyed by id")
        records += [_record(file, key, value, scenario, tiny) for key, value in data.items()]
    return records
