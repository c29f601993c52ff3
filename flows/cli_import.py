"""`safetyforge import check`: what a build's `questions_from` would import, without building."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
import_app = typer.Typer(
    help="Questions imported from published benchmarks or your own file (questions_from).",
    no_args_is_help=True,
)


@import_app.command("check")
def import_check(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Build config with a questions_from section.")
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override one config value: dotted.key=value."),
    ] = None,
) -> None:
    """Read the file and print, per scenario, the records a build would import, how many are
    flagged (kept, with the rules they break), how many are in the tiny split, and which fields
    the LLM would be asked for. Nothing is written and no LLM is called.

    e.g. safetyforge import check -c configs/mm-safetybench-original.yaml
    --set questions_from.path=MM-SafetyBench/data/processed_questions
    """
    from flows.import_stage import built_fields, print_import
    from flows.preflight import select_scenarios
    from generators.importers import missing_fields, needed_fields, read_import
    from schemas.config import ConfigError, load_config
    from schemas.taxonomy import load_taxonomy

    try:
        cfg = load_config(config, set_ or [])
        if cfg.questions_from is None:
            raise ConfigError(f"{config}: no questions_from section")
        scenarios = select_scenarios(cfg)
        result = read_import(cfg.questions_from, load_taxonomy(cfg.taxonomy), scenarios)
    except ConfigError as exc:
        console.print("[red]error:[/red]", str(exc), markup=True, highlight=False)
        raise typer.Exit(2) from None
    print_import(result, scenarios, console)
    specs = [s for s in cfg.chosen_specs() if s.question_source == "taxonomy"]
    needed = needed_fields(built_fields(cfg, specs))
    asked = [missing_fields(e, needed) for e in result.extractions]
    todo = [m for m in asked if m]
    if todo:
        fields = sorted({f for m in todo for f in m})
        console.print(
            f"The LLM ({cfg.llm.provider}) would be asked for {', '.join(fields)} "
            f"in {len(todo)} request(s) (one per record lacking any)."
        )
    else:
        console.print("The file holds every field the chosen variants use: no LLM request.")
