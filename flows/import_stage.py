"""The import stage of `build_benchmark` (config `questions_from`): questions and key-phrase
records from a published file instead of the LLM, which is asked only for the fields the
chosen variants need and the file lacks. Also the table `safetyforge import check` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from rich.console import Console
from rich.table import Table

from flows.limits import paced
from flows.variant_images import progress_bar
from generators.extraction import ExtractionResult
from generators.importers import (
    ImportResult,
    asked_fields,
    fill_missing,
    needed_fields,
    read_import,
)
from generators.llm_cache import ResponseCache
from generators.providers import make_provider
from generators.questions import QuestionsResult
from schemas.config import BuildConfig
from schemas.records import Extraction, Scenario
from schemas.taxonomy import load_taxonomy
from schemas.variants import VariantSpec

console = Console(stderr=True)


def warning_code(warning: str) -> str:
    return warning.split(":", 1)[0]


def import_table(result: ImportResult, scenarios: Sequence[Scenario]) -> Table:
    """Records per scenario as imported: kept, flagged (any warning), in the tiny split."""
    kept = Counter(e.scenario for e in result.extractions)
    flagged = Counter(e.scenario for e in result.extractions if _flags(e))
    tiny = Counter(e.scenario for e in result.extractions if e.tiny)
    surplus = Counter(q.scenario for q in result.questions if q.status == "rejected")
    table = Table(title="Imported questions per scenario")
    for column in ("scenario", "imported", "flagged", "tiny", "over the cap"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in scenarios:
        if kept[s.slug] or surplus[s.slug]:
            table.add_row(
                f"{s.id} {s.name}",
                *(str(c[s.slug]) for c in (kept, flagged, tiny, surplus)),
            )
    table.add_row(
        "[bold]total",
        *(f"[bold]{c.total()}" for c in (kept, flagged, tiny, surplus)),
    )
    return table


def _flags(extraction: Extraction) -> list[str]:
    """The record's rule flags (what fill noted about itself is provenance, not a flag)."""
    return [w for w in extraction.warnings if warning_code(w) != "offline_fill"]


def flag_counts(result: ImportResult) -> Counter[str]:
    """Flagged records per warning code (a record flagged twice for one code counts once)."""
    return Counter(
        code for e in result.extractions for code in {warning_code(w) for w in _flags(e)}
    )


def print_import(result: ImportResult, scenarios: Sequence[Scenario], out: Console) -> None:
    out.print(import_table(result, scenarios))
    flags = flag_counts(result)
    if flags:
        out.print(
            "Flagged (kept as published): "
            + ", ".join(f"{code} {n}" for code, n in flags.most_common())
        )
    if result.not_selected:
        out.print(f"{result.not_selected} record(s) of scenarios this build does not select")


def built_fields(config: BuildConfig, specs: Sequence[VariantSpec]) -> set[str]:
    """The text fields of the variants this build will make (SD ones only with a model)."""
    built = [s for s in specs if config.image_model.path or not s.needs_image_model]
    return {f for s in built for f in s.fields}


@task(name="import_questions", cache_policy=NO_CACHE, persist_result=False)
def import_stage(
    config: BuildConfig,
    scenarios: list[Scenario],
    specs: list[VariantSpec],
    artifacts: Path,
    run_id: str,
) -> tuple[QuestionsResult, ExtractionResult]:
    """Imported questions and key-phrase records; the LLM fills only what is missing, and
    (a real LLM, not the offline provider) writes each question's benign twin."""
    assert config.questions_from is not None
    result = read_import(config.questions_from, load_taxonomy(config.taxonomy), scenarios)
    needed = needed_fields(built_fields(config, specs))
    twins = config.llm.provider != "offline"
    todo = sum(1 for e in result.extractions if asked_fields(e, needed, twins))
    calls = []
    if todo:
        provider = paced(make_provider(config.llm), config.llm)
        with progress_bar() as progress:
            bar = progress.add_task(f"Missing fields ({provider.model})", total=todo)
            filled = fill_missing(
                provider,
                ResponseCache(artifacts / "cache" / "llm"),
                result.extractions,
                {s.slug: s for s in scenarios},
                needed,
                run_id,
                progress=lambda n: progress.advance(bar, n),
                twins=twins,
            )
        result.extractions, calls = filled.extractions, filled.calls
    print_import(result, scenarios, console)
    return (
        QuestionsResult(questions=result.questions),
        ExtractionResult(extractions=result.extractions, calls=calls),
    )
