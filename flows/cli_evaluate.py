"""CLI: `safetyforge evaluate` (run a model on a release) and `safetyforge evaluate report RUN`.

Thin wrappers: the orchestration is flows/evaluate.py, the logic evaluation/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()

evaluate_app = typer.Typer(
    help=(
        "Evaluate a vision-language model on a release with a pinned protocol: attack-success "
        "and refusal rates per scenario x variant, 95% intervals, two judges."
    ),
)
ArtifactsOption = Annotated[
    Path,
    typer.Option(
        "--artifacts", help="Artifacts folder: catalog.duckdb, the answer cache, evaluations/."
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


@evaluate_app.callback(invoke_without_command=True)
def evaluate(
    ctx: typer.Context,
    release: Annotated[
        str | None,
        typer.Option(
            help="Release folder (releases/NAME/1.0.0 or releases/NAME@1.0.0) or Hub repo ORG/NAME@1.0.0."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name at the endpoint.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. http://host:8000/v1.")
    ] = None,
    configs: Annotated[
        str | None, typer.Option(help="Comma-separated variant configs (default: all).")
    ] = None,
    split: Annotated[str, typer.Option(help="test or tiny.")] = "test",
    attempts: Annotated[
        int, typer.Option(min=1, help="Attempts per sample; a sample succeeds if any is unsafe.")
    ] = 1,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N samples per config (scenario-balanced).")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="LLM judge model (default: rule-based judge only).")
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option(help="LLM judge endpoint (default: --base-url).")
    ] = None,
    taxonomy: Annotated[
        str | None,
        typer.Option(help="Taxonomy for the judge rules (default: the release's build config)."),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the endpoints' API key.")
    ] = "OPENAI_API_KEY",
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed; attempt i sends seed + i.")] = 0,
    max_tokens: Annotated[int, typer.Option(min=1)] = 1024,
    max_concurrency: Annotated[int, typer.Option(min=1)] = 16,
    requests_per_minute: Annotated[int | None, typer.Option(min=1)] = None,
    max_retries: Annotated[int, typer.Option(min=0)] = 5,
    timeout_s: Annotated[float, typer.Option(min=0.1)] = 120.0,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Send every sample (prompt + image parts) to an OpenAI-compatible vision endpoint, judge
    each answer, record one catalog row per sample x attempt, then print the report.

    Answers are cached: re-running the same command (after a kill, say) asks only what is
    missing and continues the same run.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [n for n, v in (("--release", release), ("--model", model)) if not v]
    if missing:
        raise _fail(f"{' and '.join(missing)} required (see `safetyforge evaluate --help`)")
    assert release is not None and model is not None
    import datasets

    from flows.evaluate import EvaluationSettings, evaluate_release
    from generators.llm_types import LLMFatalError
    from schemas.config import ConfigError, LLMConfig

    endpoint = {
        "provider": "openai",
        "api_key_env": api_key_env,
        "max_concurrency": max_concurrency,
        "requests_per_minute": requests_per_minute,
        "max_retries": max_retries,
        "timeout_s": timeout_s,
    }
    settings = EvaluationSettings(
        release=release,
        configs=[c.strip() for c in configs.split(",") if c.strip()] if configs else [],
        split=split,
        attempts=attempts,
        limit=limit,
        taxonomy=taxonomy,
        model=LLMConfig(
            model=model,
            base_url=base_url,
            temperature=temperature,
            seed=seed,
            max_tokens=max_tokens,
            **endpoint,
        ),
        judge=LLMConfig(
            model=judge_model,
            base_url=judge_base_url or base_url,
            temperature=0.0,
            seed=0,
            max_tokens=300,
            **endpoint,
        )
        if judge_model
        else None,
    )

    datasets.disable_progress_bars()  # ours below says more

    def progress(done: int, total: int) -> None:
        console.print(f"  {done}/{total} samples evaluated", highlight=False)

    try:
        run = evaluate_release(settings, artifacts, progress)
    except (ValueError, ConfigError, LLMFatalError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    summary = ", ".join(f"{k} {v}" for k, v in run.summary.items())
    console.print(f"evaluation run [bold]{run.run_id}[/bold]: {summary}", highlight=False)
    _print_report(artifacts, run.run_id)


def _print_report(artifacts: Path, run: str, out: Path | None = None) -> None:
    from catalog import CatalogError
    from flows.evaluate import write_report

    try:
        markdown, folder = write_report(artifacts, run, out)
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"report, chart and protocol written to {folder}", highlight=False)


@evaluate_app.command("report")
def report(
    run: Annotated[str, typer.Argument(help="Evaluation run id (or a unique prefix, or latest).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.md, asr.png, protocol.json."),
    ] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Print and write the report of a recorded evaluation run: ASR and refusal rate per
    scenario x variant with 95% intervals, the gap to text_only, judge agreement, the protocol,
    and a bar chart PNG."""
    _print_report(artifacts, run, out)


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")
