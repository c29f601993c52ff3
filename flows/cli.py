"""The `safetyforge` command line: the one place users drive the pipeline from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.cli_evaluate import register as register_evaluate_commands
from flows.cli_import import import_app
from flows.cli_llm import llm_app
from flows.cli_quality import register as register_quality_commands
from flows.cli_release import register as register_release_commands
from flows.cli_variants import register as register_variant_commands
from flows.prefect_env import configure_prefect
from schemas.config import BuildConfig, ConfigError, load_config

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
app.add_typer(import_app, name="import")
app.add_typer(llm_app, name="llm")

console = Console()
errors = Console(stderr=True)
# `safetyforge build`'s exit codes, by outcome; also in its --help and the README.
BUILD_EXIT_CODES = {
    0: "released, or the release already holds exactly these samples",
    1: "unexpected error (one line; the traceback is in the log file it names), or Label "
    "Studio unavailable",
    2: "bad config or input",
    3: "LLM endpoint unreachable (a short probe; the URL is named) or refusing the run (key, "
    "model, URL)",
    4: "incomplete run: LLM requests went unanswered (timeouts, server errors); nothing "
    "published; a re-run asks exactly those again (release.allow_incomplete: true publishes "
    "anyway, and the card says so)",
    5: "nothing published: no sample accepted, or a scenario with none "
    "(release.allow_empty_scenarios: true publishes without it)",
    6: "review pending: nothing published until reviewers decide (review.mode: label-studio)",
}
RELEASE_EXIT = {
    "published": 0,
    "unchanged": 0,
    "incomplete": 4,
    "empty": 5,
    "empty_scenarios": 5,
    "pending_review": 6,
}

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


def _error(label: str, exc: BaseException | str) -> None:
    """Print an error on stderr; its text is shown verbatim (paths and messages may hold
    brackets)."""
    errors.print(f"[red]{label}:[/red]", end=" ")
    errors.print(str(exc), markup=False, highlight=False, soft_wrap=True)


def _load(config: Path | None, overrides: list[str] | None):
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        _error("error", exc)
        raise typer.Exit(2) from None


@app.command(
    help="Build a benchmark: questions -> key phrases -> images -> review -> local release.\n\n"
    "Runs the `build_benchmark` Prefect flow (local ephemeral Prefect API; state under "
    "artifacts/prefect). Re-running the same config reuses every cached LLM answer and image."
    "\n\nExit codes:\n\n" + "\n\n".join(f"{c}: {t}." for c, t in BUILD_EXIT_CODES.items())
)
def build(config: ConfigOption = None, set_: SetOption = None) -> None:
    from flows.summary import print_summary

    cfg = _load(config, set_)
    from flows.preflight import preflight

    with _build_errors():
        preflight(cfg)
    configure_prefect(Path(cfg.artifacts_dir))
    from flows.build import build_benchmark
    from flows.build_log import build_log_path, tracebacks_to

    console.print(
        f"[bold]SafetyForge build[/bold] {cfg.name}: taxonomy {cfg.taxonomy}, variants {', '.join(cfg.variants)}"
    )
    console.print("Starting Prefect (a local ephemeral API; the first start takes ~20 s)...")
    log = build_log_path(Path(cfg.artifacts_dir).resolve())
    with tracebacks_to(log), _build_errors(log):
        summary = build_benchmark(config=cfg.model_dump(mode="json"))
    print_summary(console, summary, cfg)
    code = RELEASE_EXIT.get(summary["release_status"], 0)
    if code:
        raise typer.Exit(code)


@contextmanager
def _build_errors(log: Path | None = None) -> Iterator[None]:
    """Turn the errors a user can fix into a message and an exit code (no traceback). With a
    `log`, any other error is one line too, its traceback written to that file (exit 1)."""
    from annotation import ReviewUnavailable
    from catalog import CatalogError
    from generators.llm_types import LLMFatalError

    try:
        yield
    except (ConfigError, FileExistsError, CatalogError) as exc:
        _error("error", exc)
        raise typer.Exit(2) from None
    except ReviewUnavailable as exc:
        _error("review error", exc)
        raise typer.Exit(1) from None
    except LLMFatalError as exc:
        _error("LLM endpoint error", exc)
        errors.print("Nothing answered so far is lost: a re-run resumes from the cache.")
        raise typer.Exit(3) from None
    except Exception as exc:  # a bug or an environment problem: the details go to the log
        if log is None:
            raise
        from flows.build_log import log_exception

        log_exception(log, exc)
        _error("error", f"{type(exc).__name__}: {exc} (traceback: {log})")
        raise typer.Exit(1) from None


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
    variant: Annotated[str, typer.Argument(help="A variant name (see `variants list`).")],
    text: Annotated[
        str, typer.Argument(help="The text: used as key phrase, statement and every text field.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path(
        "preview.png"
    ),
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Render one variant's image(s) for a text with the configured presets, for tuning a config.

    Several images (FigStep-Pro fragments) are drawn side by side with a grey gap so the cuts
    show. Nothing is cached or recorded; the font size actually used and the geometry are
    printed. Variants that need a Stable Diffusion or collection image cannot be previewed.
    Derived text (`derive:` in the spec) is made with the configured LLM provider (the offline
    one by default), through a throwaway cache.
    """
    from flows.assemble import TEXT_FIELDS
    from flows.variant_images import render_job
    from typography import TypographyError, render_preview

    cfg = _load(config, set_)
    spec = cfg.specs().get(variant)
    if spec is None or spec.yields == "none" or spec.source_ops:
        drawable = [n for n, s in cfg.specs().items() if s.yields != "none" and not s.source_ops]
        console.print(f"[red]error:[/red] variant must be one of {', '.join(drawable)}")
        raise typer.Exit(2)
    fields = {name: text for name in TEXT_FIELDS}
    try:
        fields |= _preview_derived(cfg, spec, fields)
        pictures = render_preview(render_job(cfg, spec, fields), out)
    except (TypographyError, KeyError) as exc:
        console.print(f"[red]cannot render:[/red] {exc}")
        raise typer.Exit(1) from None
    meta = pictures[0].meta
    shown = {
        k: meta[k] for k in ("canvas", "origin", "lines", "fragments", "deviation") if k in meta
    }
    console.print(
        f"wrote {out} ({len(pictures)} image(s), font size {pictures[0].font_size}) {shown}",
        markup=False,
    )


def _preview_derived(cfg: BuildConfig, spec, fields: dict[str, str]) -> dict[str, str]:
    """The spec's derived fields for a preview text; KeyError naming a failed derivation."""
    import tempfile

    from generators.derive import DERIVATIONS, DeriveJob, derivation_params, run_derivations
    from generators.llm_cache import ResponseCache
    from generators.providers import make_provider

    if not spec.derive:
        return {}
    params = cfg.variant_params_of(spec)
    jobs = [
        DeriveJob(
            "preview", d, derivation_params(DERIVATIONS[d], params), {**fields, "scenario": ""}
        )
        for d in spec.derive
    ]
    with tempfile.TemporaryDirectory() as cache:
        records = run_derivations(
            jobs, make_provider(cfg.llm), ResponseCache(Path(cache)), "preview"
        ).records
    derived: dict[str, str] = {}
    for record in records:
        if record.status == "rejected":
            raise KeyError(f"derivation {record.derivation}: {record.reject_reason}")
        derived |= record.fields
    return derived


review_app = typer.Typer(
    help="Human review in Label Studio: server, push tasks, pull decisions, progress.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")
RunOption = Annotated[
    str | None, typer.Option("--run", help="Run id from the catalog (default: the latest run).")
]


def _review_paths(cfg: BuildConfig) -> tuple[Path, Path]:
    """(artifacts dir, server data dir); the server serves files from the artifacts' parent."""
    artifacts = Path(cfg.artifacts_dir).resolve()
    return artifacts, artifacts / "label-studio"


def _review_config(cfg: BuildConfig):
    from annotation import ReviewUnavailable
    from flows.review_stage import label_studio_config

    try:
        return label_studio_config(cfg)
    except ReviewUnavailable as exc:
        _error("error", exc)
        raise typer.Exit(2) from None


def _review_run(catalog, run: str | None) -> str:
    run_id = run or catalog.latest_run()
    if run_id is None:
        console.print("[red]error:[/red] the catalog has no run: run `safetyforge build` first")
        raise typer.Exit(2)
    return run_id


def _run_title(catalog, run_id: str) -> str:
    """The Label Studio project title of a recorded run (from the run's own config)."""
    from flows.review_stage import project_title

    return project_title(BuildConfig.model_validate(catalog.run(run_id).config), run_id)


def _review_project(ls_config, run_id: str, title: str) -> int:
    from annotation import connect, find_project

    project_id = find_project(connect(ls_config), title)
    if project_id is None:
        console.print(
            f"[red]error:[/red] no review project for run {run_id}: run `safetyforge review push`"
        )
        raise typer.Exit(2)
    return project_id


def _pull(cfg: BuildConfig, run: str | None):
    """(run id, PullResult) for the run's project; a server or token problem exits cleanly."""
    from annotation import ReviewUnavailable, pull_decisions
    from catalog import Catalog

    artifacts, _ = _review_paths(cfg)
    ls_config = _review_config(cfg)
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        run_id = _review_run(catalog, run)
        title = _run_title(catalog, run_id)
    try:
        project_id = _review_project(ls_config, run_id, title)
        return run_id, pull_decisions(ls_config, project_id, cfg.review.min_annotations)
    except ReviewUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")  # nothing was written to the catalog
        raise typer.Exit(1) from None


@review_app.command("server")
def review_server(config: ConfigOption = None, set_: SetOption = None) -> None:
    """Start Label Studio on 127.0.0.1 (port of review.label_studio_url) until Ctrl+C.

    Installs the server into its own cached virtualenv on first use; data (SQLite) lives in
    <artifacts>/label-studio. Prints the URL, the admin login and the API token.
    """
    import signal
    import sys
    import time
    from urllib.parse import urlparse

    from annotation import ServerError, start, stop

    cfg = _load(config, set_)
    artifacts, data_dir = _review_paths(cfg)
    port = urlparse(cfg.review.label_studio_url).port or 8080
    try:
        handle = start(data_dir, port, document_root=artifacts.parent)
    except ServerError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    creds = handle.credentials
    console.print(f"Label Studio is up at [bold]{handle.url}[/bold] (data: {data_dir})")
    console.print(f"  login:    {creds.username} / {creds.password}")
    console.print(f"  API token: {creds.token}   (export LABEL_STUDIO_API_KEY=...)")
    console.print("Next: `safetyforge review push`; Ctrl+C stops the server.")
    # SIGTERM (kill, service managers) stops the server too, via the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop(handle)


@review_app.command("push")
def review_push(run: RunOption = None, config: ConfigOption = None, set_: SetOption = None) -> None:
    """Create or reuse the run's project and import its questions with the auto-review as
    pre-annotations. Re-pushing imports only questions whose content changed."""
    from annotation import ReviewUnavailable, push_tasks
    from catalog import Catalog
    from schemas.records import ReviewDecision, Sample
    from schemas.taxonomy import load_taxonomy

    cfg = _load(config, set_)
    artifacts, _ = _review_paths(cfg)
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        run_id = _review_run(catalog, run)
        title = _run_title(catalog, run_id)
        samples = catalog.run_records("samples", run_id, Sample)
        auto = [
            d
            for d in catalog.run_records("reviews", run_id, ReviewDecision)
            if d.reviewer.startswith("auto:")
        ]
        images = catalog.images_by_id(i for s in samples for i in s.image_ids)
    names = {s.slug: s.name for s in load_taxonomy(cfg.taxonomy).scenarios}
    try:
        result = push_tasks(
            _review_config(cfg),
            title,
            samples,
            images,
            artifacts,
            auto,
            names,
            annotators_per_task=cfg.review.min_annotations,
        )
    except ReviewUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"project {result.project_id} ({title}): {result.created} task(s) imported, "
        f"{result.skipped} already there, {result.predictions} with pre-annotations"
    )


@review_app.command("pull")
def review_pull(run: RunOption = None, config: ConfigOption = None, set_: SetOption = None) -> None:
    """Read every annotation through the export API and record each annotator's decision and
    the majority consensus (review.min_annotations; ties stay pending) in the catalog; sample
    status follows the consensus (undecided samples become pending, so they are not published).
    Corrected labels (labelled tasks) are taken at once; corrected key phrases are re-rendered
    by a build with review.mode: label-studio."""
    from catalog import Catalog
    from flows.artifacts_lock import artifacts_lock
    from flows.review_stage import apply_consensus, relabel
    from schemas.records import Extraction, Sample

    cfg = _load(config, set_)
    run_id, result = _pull(cfg, run)
    artifacts, _ = _review_paths(cfg)
    # A build writes the catalog under this lock: wait for a running one.
    lock = artifacts_lock(
        artifacts, "safetyforge review pull", say=lambda m: console.print(m, markup=False)
    )
    with lock, Catalog(artifacts / "catalog.duckdb") as catalog:
        catalog.upsert("reviews", result.decisions + result.consensus, run_id)
        # Human consensus decides what `safetyforge publish --run` releases.
        samples = catalog.run_records("samples", run_id, Sample)
        apply_consensus(samples, result.consensus)
        extractions = {
            e.question_id: e for e in catalog.run_records("extractions", run_id, Extraction)
        }
        relabelled, refused = relabel(result.consensus, samples, extractions)
        catalog.replace_run_rows("samples", run_id, samples)
        catalog.replace_run_rows("extractions", run_id, list(extractions.values()))
    for why in refused:
        console.print(f"review: {why}", markup=False)
    corrected = {d.sample_id for d in result.consensus if d.corrected_key_phrase}
    console.print(
        f"run {run_id}: {len(result.decisions)} annotator decision(s), "
        f"{len(result.consensus)} resolved sample(s), {len(result.pending)} pending, "
        f"{len(corrected)} with a corrected key phrase"
        + (f", {relabelled} question(s) with corrected labels" if relabelled else "")
    )


@review_app.command("status")
def review_status(
    run: RunOption = None, config: ConfigOption = None, set_: SetOption = None
) -> None:
    """Review progress per scenario: accepted / rejected / pending questions, agreement rate."""
    from rich.table import Table

    from annotation import summarize

    cfg = _load(config, set_)
    run_id, result = _pull(cfg, run)
    table = Table(title=f"review of run {run_id} (min {cfg.review.min_annotations} annotator(s))")
    for column in ("scenario", "questions", "accepted", "rejected", "pending", "agreement"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for row in summarize(result.progress):
        agreement = "-" if row.agreement is None else f"{row.agreement:.0%}"
        table.add_row(
            row.scenario,
            *(str(v) for v in (row.questions, row.accepted, row.rejected, row.pending)),
            agreement,
        )
    console.print(table)


# publish, releases list/diff, catalog query, export jsonl
register_release_commands(app)
register_variant_commands(app)
register_quality_commands(app)
# evaluate a model on a release; evaluate report RUN
register_evaluate_commands(app)

deploy_app = typer.Typer(
    help="Scheduled builds: serve the Prefect deployments of prefect.yaml (see README, Scaling).",
    no_args_is_help=True,
)
app.add_typer(deploy_app, name="deploy")


@deploy_app.command("serve")
def deploy_serve(
    file: Annotated[Path, typer.Option("--file", "-f", help="Deployments file.")] = Path(
        "prefect.yaml"
    ),
    name: Annotated[
        list[str] | None,
        typer.Option("--name", "-n", help="Serve only this deployment (repeatable)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many runs at once.")] = None,
) -> None:
    """Register the deployments (with their schedules) on the Prefect server in PREFECT_API_URL
    and run their due and triggered runs from this one process until Ctrl+C.

    Start the server first (`prefect server start`) and export
    PREFECT_API_URL=http://127.0.0.1:4200/api; trigger a run with
    `prefect deployment run build_benchmark/nightly-grow`.
    """
    if not os.environ.get("PREFECT_API_URL"):
        console.print(
            "[red]error:[/red] PREFECT_API_URL is not set: start `prefect server start` and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api (schedules live on that server)"
        )
        raise typer.Exit(2)
    configure_prefect(file.resolve().parent / "artifacts")
    from flows.deploy import serve_deployments

    try:
        serve_deployments(file, name, limit)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


if __name__ == "__main__":
    app()
