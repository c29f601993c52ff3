"""`safetyforge variants list` / `variants show NAME`: every variant spec, its recipe and prompt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

# A table of variants is wide: do not squeeze it into 80 columns when piped to a file.
console = Console(width=None if sys.stdout.isatty() else 160)
variants_app = typer.Typer(
    help="The variants a build can make (built-in specs and your own), their image recipes "
    "(chains of registered operations) and prompts.",
    no_args_is_help=True,
)


def _load(config: Path | None, overrides: list[str] | None):
    from flows.cli import _load as load

    return load(config, overrides)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Build config: its own variants/ folder is included."),
]


@variants_app.command("list")
def variants_list(config: ConfigOption = None) -> None:
    """One line per variant: name, what the image is, its recipe, the source paper, and what
    it needs beyond CPU typography (an image model, a collection, LLM-derived text)."""
    from schemas.variants import all_specs

    cfg = _load(config, None)
    table = Table(title="SafetyForge variants", show_lines=False)
    for column in ("variant", "image", "recipe", "images", "needs", "source"):
        table.add_column(column, overflow="fold")
    for spec in all_specs(cfg.variant_specs).values():  # a per-language spec once
        needs = ["per language"] if spec.per_language else []
        if spec.needs_image_model:
            needs.append("image model")
        if spec.needs_collection:
            needs.append("collection")
        needs += [f"derive:{d}" for d in spec.derive]
        recipe = " -> ".join(step.op for step in spec.images) or "-"
        table.add_row(
            spec.name, spec.summary, recipe, spec.yields, ", ".join(needs) or "-", spec.source
        )
    console.print(table)


@variants_app.command("show")
def variants_show(
    name: Annotated[str, typer.Argument(help="A variant name from `variants list`.")],
    config: ConfigOption = None,
) -> None:
    """Print a variant's spec (YAML) with each operation's summary and parameters, its prompt
    template(s) and checks; `$section.key` parameters are shown with this config's value."""
    from flows.assemble import recipe_context
    from schemas.variants import SOURCE_OPS, all_specs, resolve_value
    from typography import OPS

    cfg = _load(config, None)
    spec = {**all_specs(cfg.variant_specs), **cfg.specs()}.get(name)
    if spec is None:
        console.print(f"[red]error:[/red] no variant {name!r}; known: {', '.join(cfg.specs())}")
        raise typer.Exit(2)
    context = recipe_context(cfg, spec)
    console.rule(f"{spec.name}: {spec.title}  (spec sha256 {spec.sha256()[:12]})")
    console.print(f"{spec.summary}. Source: {spec.source}", markup=False)
    console.print(f"fields: {', '.join(spec.fields) or '-'}", markup=False)
    if spec.derive:
        console.print(f"derived text: {', '.join(spec.derive)}", markup=False)
    if spec.per_language:
        console.print(
            "made per language: one variant <name>_<language> for each of translate.languages",
            markup=False,
        )
    for number, step in enumerate(spec.images, start=1):
        if step.op in SOURCE_OPS:
            summary = "source image made outside typography (generators)"
            defaults: dict = {}
        else:
            info = OPS[step.op]
            summary = info.summary
            defaults = {k: v for k, v in info.params.items() if k not in step.params}
        console.print(f"[bold]{number}. {step.op}[/bold] — {summary}")
        for key, value in step.params.items():
            shown = value
            if isinstance(value, str) and value.startswith("$"):
                shown = f"{value} = {resolve_value(value, {}, context)!r}"
            console.print(f"     {key}: {shown}", markup=False, highlight=False)
        if defaults:
            rest = ", ".join(f"{k}={v!r}" for k, v in defaults.items() if k != "presets")
            console.print(f"     (defaults: {rest})", markup=False, highlight=False)
    console.print(f"yields: {spec.yields}")
    if spec.params:
        console.print(f"params: {cfg.variant_params_of(spec)}", markup=False)
    console.print("[bold]prompt[/bold]")
    console.print(spec.prompt, markup=False, highlight=False)
    for fidelity, text in spec.prompts.items():
        console.print(f"[bold]prompt ({fidelity} fidelity)[/bold]")
        console.print(text, markup=False, highlight=False)
    if spec.checks:
        console.print("[bold]checks[/bold]")
        for check in spec.checks:
            line = f"  {check.check}: expected {check.expected!r}"
            if check.prepare:
                steps = [
                    f"{s.op}({', '.join(f'{k}={v!r}' for k, v in s.params.items())})"
                    for s in check.prepare
                ]
                line += ", after " + " -> ".join(steps)
            console.print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(variants_app, name="variants")
