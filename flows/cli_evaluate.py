"""CLI: `safetyforge evaluate` (run a model on a release), `evaluate report RUN`, `evaluate
calibrate RUN` and `export inspect RELEASE`.

Thin wrappers: the orchestration is flows/evaluate*.py and flows/export_inspect.py, the logic
evaluation/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()

EXIT_CODES = (
    "Exit codes: 0 done; 2 bad input (options, release, run id, judge spec); 3 endpoint "
    "problem (unreachable, key or model refused, or the model cannot take the images the "
    "chosen configs need); 1 Label Studio unavailable (calibrate)."
)
evaluate_app = typer.Typer(
    help=(
        "Evaluate a vision-language model on a release with a pinned protocol: attack-success "
        "and refusal rates per scenario x variant with 95% intervals, several judges side by "
        "side, paired image-vs-text lifts, over-refusal on contrast twins, human calibration. "
        + EXIT_CODES
    ),
)
ArtifactsOption = Annotated[
    Path,
    typer.Option(
        "--artifacts", help="Artifacts folder: catalog.duckdb, the answer cache, evaluations/."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print("[red]error:[/red] ", end="")
    console.print(message, highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(code)


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
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            help=(
                "A judge, one report column each (repeatable; the first is primary): rules "
                "(no model), llm, rubric (StrongREJECT-style 0-1 score), guard[:SPEC.yaml] "
                "(Llama Guard style, --guard-model), template:SPEC.yaml (your own judge "
                "prompt and conventions), toxicity[:CLASSIFIER_DIR] (caption toxicity: a local "
                "Detoxify-style classifier, else the judge model with a rubric). Default: llm "
                "and rules with --judge-model, else rules."
            ),
        ),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Model of the llm, rubric and template judges.")
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option(help="Judge endpoint (default: --base-url).")
    ] = None,
    guard_model: Annotated[
        str | None, typer.Option(help="Model of the guard judge (default: --judge-model).")
    ] = None,
    guard_base_url: Annotated[
        str | None, typer.Option(help="Guard endpoint (default: --judge-base-url).")
    ] = None,
    aggregation: Annotated[
        str | None,
        typer.Option(
            help="How K attempts make a sample's verdict, for every judge: any-of-K (FigStep), "
            "mean, majority (default: each judge's own: any-of-K, rubric mean)."
        ),
    ] = None,
    skip_image_variants: Annotated[
        bool,
        typer.Option(
            help="When the model cannot take a config's images, skip that config (recorded) "
            "instead of stopping."
        ),
    ] = False,
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
    each answer with every judge, record one catalog row per sample x attempt and one verdict
    per judge, then print the report.

    Before any sample is sent, a probe checks that the model accepts image parts and how many
    per request. Answers are cached: re-running the same command (after a kill, say) asks only
    what is missing and continues the same run; adding a judge re-judges cached answers.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [n for n, v in (("--release", release), ("--model", model)) if not v]
    if missing:
        raise _fail(f"{' and '.join(missing)} required (see `safetyforge evaluate --help`)")
    assert release is not None and model is not None
    import datasets

    from evaluation import parse_judge_option
    from flows.evaluate import EvaluationSettings, ImageCapabilityError, evaluate_release
    from generators.llm_types import LLMFatalError
    from schemas.config import ConfigError, LLMConfig

    if aggregation not in (None, "any-of-K", "mean", "majority"):
        raise _fail(f"--aggregation must be any-of-K, mean or majority, not {aggregation!r}")
    try:
        judges = [
            parse_judge_option(j).model_copy(update={"aggregation": aggregation})
            for j in judge or []
        ]
    except ValueError as exc:
        raise _fail(str(exc)) from None

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
        judges=judges,
        judge=_judge_llm(judge_model, judge_base_url or base_url, endpoint),
        guard=_judge_llm(guard_model, guard_base_url or judge_base_url or base_url, endpoint),
        skip_image_variants=skip_image_variants,
    )

    datasets.disable_progress_bars()  # ours below says more

    def progress(done: int, total: int) -> None:
        console.print(f"  {done}/{total} samples evaluated", highlight=False)

    try:
        run = evaluate_release(settings, artifacts, progress)
    except (LLMFatalError, ImageCapabilityError) as exc:
        raise _fail(str(exc), 3) from None
    except (ValueError, ConfigError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    summary = ", ".join(f"{k} {v}" for k, v in run.summary.items())
    console.print(f"evaluation run [bold]{run.run_id}[/bold]: {summary}", highlight=False)
    _print_report(artifacts, run.run_id)


def _judge_llm(model: str | None, base_url: str | None, endpoint: dict) -> object:
    from schemas.config import LLMConfig

    if not model:
        return None
    return LLMConfig(
        model=model, base_url=base_url, temperature=0.0, seed=0, max_tokens=300, **endpoint
    )


def _print_report(artifacts: Path, run: str, out: Path | None = None) -> None:
    from catalog import CatalogError
    from flows.evaluate_report import write_report

    try:
        markdown, folder = write_report(artifacts, run, out)
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"report.md, report.html, asr.png and protocol.json written to {folder}", highlight=False
    )


@evaluate_app.command("report")
def report(
    run: Annotated[str, typer.Argument(help="Evaluation run id (or a unique prefix, or latest).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.md, report.html, asr.png, protocol.json."),
    ] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Print and write the report of a recorded evaluation run: per judge, ASR and refusal rate
    per scenario x variant with 95% intervals (and a heat map), paired lifts over text_only
    with McNemar tests, over-refusal on contrast twins, judge agreement and calibration, each
    judge's protocol; report.md and one self-contained report.html with charts and example
    answers (images embedded)."""
    _print_report(artifacts, run, out)


@evaluate_app.command("calibrate")
def calibrate(
    run: Annotated[str, typer.Argument(help="Evaluation run id (or a unique prefix, or latest).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Answers to send to people.")] = 200,
    disagreement_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of the sample taken from judge disagreements."),
    ] = 0.5,
    annotators: Annotated[
        int,
        typer.Option(
            min=1,
            help="People offered each answer (Label Studio's overlap; set when the project is "
            "created). The human label is their majority; ties are left out.",
        ),
    ] = 3,
    label_studio_url: Annotated[
        str, typer.Option(help="Label Studio server (see `safetyforge review server`).")
    ] = "http://127.0.0.1:8080",
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the Label Studio token.")
    ] = "LABEL_STUDIO_API_KEY",
    document_root: Annotated[
        Path | None,
        typer.Option(
            help="Folder the server serves local files from (its "
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT); default: the artifacts folder's parent, "
            "as `safetyforge review server` sets it."
        ),
    ] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Calibrate the run's judges against people: send a stratified sample of answers (scenario
    x variant; judge disagreements oversampled) to Label Studio to be labelled unsafe / safe /
    refusal, pull the labels, and store and print each judge's precision, recall, F1 and
    Cohen's kappa against the human majority (bootstrap 95% intervals; kappa < 0.6 flagged).

    Run it once to push the tasks, again when people have labelled: the same answers are
    chosen, only missing tasks are imported, metrics use every label so far."""
    import os

    from annotation import LabelStudioConfig, ReviewUnavailable
    from annotation.server import CREDENTIALS_FILE, read_credentials
    from catalog import CatalogError
    from evaluation.report import calibration_table, markdown_table
    from flows.evaluate_calibrate import calibrate as run_calibration

    root = artifacts.resolve()
    token = os.environ.get(api_key_env)
    if not token and (root / "label-studio" / CREDENTIALS_FILE).is_file():
        token = read_credentials(root / "label-studio").token
    if not token:
        raise _fail(
            f"no Label Studio token: start the server with `safetyforge review server` or set "
            f"{api_key_env}"
        )
    config = LabelStudioConfig(
        url=label_studio_url,
        api_key=token,
        document_root=str((document_root or root.parent).resolve()),
    )
    try:
        outcome = run_calibration(artifacts, run, n, config, disagreement_share, annotators)
    except ReviewUnavailable as exc:
        raise _fail(str(exc), 1) from None
    except (CatalogError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"calibration of run {outcome.run_id}: {outcome.items} answers in Label Studio project "
        f"{outcome.project_id} ({outcome.created} imported now); {outcome.labelled} with a human "
        "majority",
        highlight=False,
        soft_wrap=True,
    )
    labelled = [m for m in outcome.metrics if m.items]
    if labelled:
        console.print(
            markdown_table(calibration_table(labelled)),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for m in labelled:
            if m.flagged:
                console.print(
                    f"warning: judge {m.judge} has kappa below {m.threshold}",
                    highlight=False,
                    soft_wrap=True,
                )
    else:
        console.print("no labels yet: label the tasks, then run this command again")


def export_inspect(
    release: Annotated[
        str, typer.Argument(help="Release folder (releases/NAME/1.0.0 or NAME@1.0.0).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")],
    judge: Annotated[
        str,
        typer.Option(help="Judge for the scorer: rules, llm, rubric, guard[:SPEC], template:SPEC."),
    ] = "rules",
    configs: Annotated[
        str | None, typer.Option(help="Comma-separated variant configs (default: all).")
    ] = None,
    split: Annotated[str, typer.Option(help="test or tiny.")] = "test",
    limit: Annotated[int | None, typer.Option(min=1, help="At most N samples per config.")] = None,
    taxonomy: Annotated[str | None, typer.Option(help="Taxonomy for the judge rules.")] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Write an inspect_ai task (dataset with images, solver, scorer wrapping the judge) so
    `inspect eval OUT/task.py --model PROVIDER/MODEL` runs the benchmark on any model inspect
    supports. A model judge asks the model given as `-T judge_model=PROVIDER/MODEL`."""
    from evaluation import parse_judge_option
    from flows.export_inspect import export_inspect_task

    try:
        options = parse_judge_option(judge)
        written = export_inspect_task(
            release,
            out,
            options,
            configs=[c.strip() for c in configs.split(",") if c.strip()] if configs else [],
            split=split,
            limit=limit,
            taxonomy=taxonomy,
            cache_root=artifacts / "cache" / "datasets",
        )
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"wrote {written} samples to {out}; run it with: cd {out} && inspect eval task.py "
        "--model PROVIDER/MODEL",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    from flows.cli_release import export_app

    app.add_typer(evaluate_app, name="evaluate")
    export_app.command("inspect")(export_inspect)
