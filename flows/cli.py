"""The `safetyforge` command line: the one place users drive the pipeline from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli_release import register as register_release_commands
from flows.prefect_env import configure_prefect
from schemas.config import ConfigError, load_config

app = typer.Typer(
    name="safetyforge",
    help=(
        "Construct versioned multimodal safety benchmarks (MM-SafetyBench / FigStep style): "
        "LLM-written questions, typographic and Stable Diffusion images, human review, and "
        "releases loadable with datasets.load_dataset. Red-teaming data: questions and images "
        "only, never answers."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
prompts_app = typer.Typer(
    help="Inspect the prompt templates sent to the LLM.", no_args_is_help=True
)
app.add_typer(prompts_app, name="prompts")

console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Build config YAML (see configs/). Defaults apply when omitted."
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one config value: dotted.key=value (repeatable)."),
]


def _load(config: Path | None, overrides: list[str] | None):
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def build(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Build a benchmark: questions -> key phrases -> images -> review -> local release.

    Runs the `build_benchmark` Prefect flow (local ephemeral Prefect API; state under
    artifacts/prefect). Re-running the same config reuses every cached LLM answer and image.
    """
    from flows.summary import print_summary

    cfg = _load(config, set_)
    configure_prefect(Path(cfg.artifacts_dir))
    from flows.build import build_benchmark

    console.print(
        f"[bold]SafetyForge build[/bold] {cfg.name}: taxonomy {cfg.taxonomy}, variants {', '.join(cfg.variants)}"
    )
    console.print("Starting Prefect (a local ephemeral API; the first start takes ~20 s)...")
    try:
        summary = build_benchmark(config=cfg.model_dump(mode="json"))
    except (ConfigError, FileExistsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    print_summary(console, summary, cfg)


@prompts_app.command("show")
def prompts_show(
    stage: Annotated[
        str, typer.Option(help="Prompt stage: questions or extraction.")
    ] = "questions",
    scenario: Annotated[str, typer.Option(help="Scenario slug, e.g. fraud.")] = "illegal_activity",
    question: Annotated[str, typer.Option(help="Question text (extraction stage).")] = "<question>",
    n: Annotated[int, typer.Option(help="Questions per request (questions stage).")] = 10,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Print the rendered prompt for one stage and scenario, with its template version and hash."""
    from schemas.prompts import render_prompt
    from schemas.taxonomy import load_taxonomy

    cfg = _load(config, set_)
    try:
        scen = load_taxonomy(cfg.taxonomy).scenario(scenario)
        rendered = render_prompt(stage, scen, n=n, avoid=[], question=question)
    except (KeyError, ConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    prov = rendered.provenance
    console.rule(f"{prov.template} v{prov.template_version}  sha256 {prov.prompt_sha256[:12]}")
    for message in rendered.messages:
        console.print(f"[bold]{message['role']}[/bold]")
        console.print(message["content"], markup=False, highlight=False)


@app.command()
def preview(
    variant: Annotated[str, typer.Argument(help="typo, figstep or figstep_pro.")],
    text: Annotated[str, typer.Argument(help="Key phrase (typo, figstep_pro) or statement.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path(
        "preview.png"
    ),
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Render one image with the configured preset (render.*_preset), for tuning a config.

    FigStep-Pro fragments are drawn side by side with a grey gap so the cuts show. Nothing is
    cached or recorded; the font size actually used and the geometry are printed.
    """
    from typography import RenderJob, TypographyError, render_preview

    cfg = _load(config, set_)
    presets = {
        "typo": cfg.render.typo_preset,
        "figstep": cfg.render.figstep_preset,
        "figstep_pro": cfg.render.figstep_pro_preset,
    }
    if variant not in presets:
        console.print(f"[red]error:[/red] variant must be one of {', '.join(presets)}")
        raise typer.Exit(2)
    try:
        drawn = render_preview(
            RenderJob(kind=variant, text=text, preset=presets[variant]),  # type: ignore[arg-type]
            out,
        )
    except TypographyError as exc:
        console.print(f"[red]cannot render:[/red] {exc}")
        raise typer.Exit(1) from None
    shown = {
        k: drawn.params[k] for k in ("canvas", "origin", "lines", "fragments") if k in drawn.params
    }
    console.print(f"wrote {out} (preset {presets[variant]}, font size {drawn.font_size}) {shown}")


# publish, releases list/diff, catalog query, export jsonl
register_release_commands(app)


if __name__ == "__main__":
    app()
