"""What every importer shares: the record it reads, its error, and the registry of formats.

An importer reads one published layout into `ImportedRecord`s: plain data mapped onto a
taxonomy, with the record's id in its source. It neither validates nor asks an LLM: checks
(`checks.py`) and filling missing fields (`fill.py`) are the same for every format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas._base import StrictModel
from schemas.config import ConfigError, QuestionsFromConfig
from schemas.records import Taxonomy

# The key-phrase record's fields an imported file may provide (besides the question).
RECORD_FIELDS = (
    "changed_question",
    "key_phrase",
    "phrase_type",
    "rephrased_question",
    "rephrased_question_sd",
    "figstep_statement",
    "figstep_pro_template",
)


class ImportFailed(ConfigError):
    """The file cannot be read as its format: one line naming the file and what is wrong."""


class ImportedRecord(StrictModel):
    """One question as its source publishes it; empty fields are ones the source lacks."""

    scenario: str  # taxonomy slug
    original_id: str  # e.g. "01-Illegal_Activitiy/5", "1-3", a JailBreakV id
    question: str
    changed_question: str = ""
    key_phrase: str = ""
    phrase_type: str = ""
    rephrased_question: str = ""
    rephrased_question_sd: str = ""
    figstep_statement: str = ""
    figstep_pro_template: str = ""
    # The source's own tiny split; None when it has none (the release then picks by rule).
    tiny: bool | None = None
    # The source model's raw answer, when published (MM-SafetyBench's "GPT-Pred").
    raw_text: str | None = None

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in RECORD_FIELDS}


Reader = Callable[[QuestionsFromConfig, Taxonomy], list[ImportedRecord]]


@dataclass(frozen=True)
class Importer:
    name: str
    read: Reader
    # The taxonomy the format's records belong to; None: the build's own (jsonl, csv).
    taxonomy: str | None
    # questions_from options the format reads besides format and path.
    options: frozenset[str]
    summary: str


IMPORTERS: dict[str, Importer] = {}


def importer(
    name: str, *, taxonomy: str | None, options: tuple[str, ...] = (), summary: str
) -> Callable[[Reader], Reader]:
    """Register a reader as the importer of format `name`."""

    def register(read: Reader) -> Reader:
        IMPORTERS[name] = Importer(name, read, taxonomy, frozenset(options), summary)
        return read

    return register


OPTIONS = ("columns", "scenario", "tiny_ids", "figstep_pro_templates")


def get_importer(source: QuestionsFromConfig, taxonomy: str) -> Importer:
    """The importer of `source.format`, after checking the build can use it: a ConfigError
    names an unknown format, a taxonomy the format does not map onto, or an option it ignores."""
    found = IMPORTERS.get(source.format)
    if found is None:
        raise ConfigError(
            f"questions_from.format: unknown format {source.format!r} "
            f"(known: {', '.join(sorted(IMPORTERS))})"
        )
    if found.taxonomy is not None and taxonomy != found.taxonomy:
        raise ConfigError(
            f"questions_from.format {found.name} maps onto the {found.taxonomy} taxonomy: "
            f"set taxonomy: {found.taxonomy} (the config has {taxonomy})"
        )
    fields = QuestionsFromConfig.model_fields
    for option in OPTIONS:
        default = fields[option].get_default(call_default_factory=True)
        if option not in found.options and getattr(source, option) != default:
            raise ConfigError(
                f"questions_from.{option} does not apply to format {found.name} "
                f"(it reads: {', '.join(sorted(found.options)) or 'path only'})"
            )
    return found


def existing(path: str | None, what: str, folder: bool = False) -> Path:
    """`path` as a Path when it names an existing file (or folder); else ImportFailed."""
    found = Path(path or "").expanduser()
    if not (found.is_dir() if folder else found.is_file()):
        kind = "folder" if folder else "file"
        raise ImportFailed(f"questions_from: {what} {kind} not found: {found}")
    return found


def scenario_lookup(taxonomy: Taxonomy) -> dict[str, str]:
    """Slug, name and id of each scenario (case-folded; ids also without leading zeros) -> slug."""
    lookup: dict[str, str] = {}
    for s in taxonomy.scenarios:
        for key in (s.slug, s.name, s.id, s.id.lstrip("0")):
            lookup[key.casefold()] = s.slug
    return lookup
