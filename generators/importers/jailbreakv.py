"""JailBreakV-28K: the CSV with `id, jailbreak_query, redteam_query, format, policy, image_path,
from, selected_mini, transfer_from_llm`.

Its 28,000 rows are jailbreak attacks (formats Template, Persuade, Logic, figstep, SD, SD_typo,
typo) on the 2,000 red-team questions of RedTeam-2K. SafetyForge builds its own variants of a
question, so each distinct `redteam_query` of a policy is imported once: its original id is
the id of its first row, and it is in the tiny split when any of its rows is in the published
mini set (`selected_mini`). Policies map by name onto the jailbreakv taxonomy.
"""

from __future__ import annotations

from generators.importers.base import (
    ImportedRecord,
    ImportFailed,
    existing,
    importer,
    scenario_lookup,
)
from generators.importers.safebench import read_csv
from schemas.config import QuestionsFromConfig
from schemas.records import Taxonomy, normalize_text

COLUMNS = ("id", "redteam_query", "policy", "selected_mini")
TRUE = frozenset({"true", "1", "yes", "y", "t"})


def truthy(value: str | None) -> bool:
    return (value or "").strip().casefold() in TRUE


@importer(
    "jailbreakv",
    taxonomy="jailbreakv",
    summary="JailBreakV-28K CSV: each distinct red-team question once (mini set = tiny split)",
)
def read_jailbreakv(source: QuestionsFromConfig, taxonomy: Taxonomy) -> list[ImportedRecord]:
    file = existing(source.path, "JailBreakV-28K CSV")
    scenarios = scenario_lookup(taxonomy)
    by_question: dict[tuple[str, str], ImportedRecord] = {}
    for line, row in enumerate(read_csv(file, COLUMNS), start=2):
        scenario = scenarios.get((row["policy"] or "").strip().casefold())
        if scenario is None:
            known = ", ".join(s.name for s in taxonomy.scenarios)
            raise ImportFailed(
                f"{file}: line {line}: policy {row['policy']!r} is not one of: {known}"
            )
        question = row["redteam_query"] or ""
        key = (scenario, normalize_text(question))
        record = by_question.get(key)
        if record is None:
            by_question[key] = ImportedRecord(
                scenario=scenario,
                original_id=row["id"] or str(line),
                question=question,
                tiny=truthy(row["selected_mini"]),
            )
        elif truthy(row["selected_mini"]):
            record.tiny = True
    return list(by_question.values())
