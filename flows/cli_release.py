"""CLI commands for releases and the catalog: publish, releases list/diff, catalog query, export.

Thin wrappers: the logic lives in `catalog/`; these parse options, open the catalog and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

ArtifactsOption = Annotated[
    Path,
    typer.Option("--artifacts", help="Artifacts folder holding catalog.duckdb and releases/."),
]
NameOption = Annotated[
    str | None,
    typer.Option("--name", help="Release name (default: the only one in the catalog)."),
]

releases_app = typer.Typer(
    help="List and compare published release versions.", no_args_is_help=True
)
catalog_app = typer.Typer(help="Query the DuckDB lineage catalog.", no_args_is_help=True)
export_app = typer.Typer(help="Export a release in other layouts.", no_args_is_help=True)


def _say(message: str) -> None:
    console.print(message, markup=False, highlight=False)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _catalog(artifacts: Path, read_only: bool = True) -> Any:
    from catalog import Catalog, CatalogError

    try:
        return Catalog(artifacts / "catalog.duckdb", read_only=read_only)
    except CatalogError as exc:
        raise _fail(str(exc)) from None


def _release_name(catalog: Any, name: str | None) -> str:
    if name:
        return name
    names = catalog.release_names()
    if len(names) != 1:
        raise _fail(f"give --name (releases in the catalog: {', '.join(names) or 'none'})")
    return names[0]


def publish(
    run: Annotated[
        str | None, typer.Option("--run", help="Run id (default: the latest run).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Version X.Y.Z to publish, or auto: the next one when the content differs "
            "from the newest release (minor: samples added or removed; patch: only changed).",
        ),
    ] = None,
    bump: Annotated[
        str | None,
        typer.Option("--bump", help="Next version after the newest: major, minor or patch."),
    ] = None,
    to_hub: Annotated[
        str | None,
        typer.Option(
            "--to-hub", help="Also upload to this Hub dataset repo (ORG/NAME); token from HF_TOKEN."
        ),
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="Make the Hub repo public and ungated.")
    ] = False,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Publish a recorded run's accepted samples as an immutable release version.

    Writes artifacts/releases/<name>/<version>/ (parquet per variant config, splits test and tiny,
    dataset card with a changelog against the previous version, charts, MANIFEST.json). Without
    --version or --bump the run's configured version (release.version, may be auto) is used.
    With --to-hub the folder is uploaded as one commit and tagged vX.Y.Z.
    """
    from catalog import CatalogError
    from catalog.hub import HubError, hub_api_from_env, push_release
    from catalog.publish import publish_run
    from catalog.release import ReleaseExistsError
    from flows.artifacts_lock import artifacts_lock

    if bump not in (None, "major", "minor", "patch"):
        raise _fail(f"--bump must be major, minor or patch, got {bump!r}")
    api = None
    if to_hub:
        try:
            api = hub_api_from_env()  # fail before writing anything when the token is missing
        except HubError as exc:
            raise _fail(str(exc)) from None
    if not (artifacts / "catalog.duckdb").is_file():
        raise _fail(f"no catalog in {artifacts}: run `safetyforge build` first")
    # Builds hold this lock from start to end: publishing waits for a running one.
    with (
        artifacts_lock(artifacts, "safetyforge publish", say=_say),
        _catalog(artifacts, read_only=False) as catalog,
    ):
        run_id = run or catalog.latest_run()
        if run_id is None:
            raise _fail("the catalog has no run: run `safetyforge build` first")
        try:
            result = publish_run(
                catalog,
                run_id,
                releases_dir=artifacts / "releases",
                version=version,
                bump=bump,  # type: ignore[arg-type]
                hub_repo=to_hub,
            )
        except (ReleaseExistsError, ValueError, CatalogError) as exc:
            raise _fail(str(exc)) from None
    state = "published" if result.status == "published" else "unchanged (same content)"
    console.print(f"{result.name} {result.version} {state}: {result.path}")
    if result.status == "published":
        console.print(change_line(result.previous_version, result.changes), highlight=False)
    if api is not None and to_hub:
        try:
            pushed = push_release(
                Path(result.path),
                to_hub,
                api,
                private=not public,
                gated=False if public else "manual",
            )
        except HubError as exc:
            raise _fail(str(exc)) from None
        console.print(f"uploaded to {pushed.repo_id} at {pushed.commit_oid[:12]}, tag {pushed.tag}")
        console.print(
            f'load it with: load_dataset("{to_hub}", "typo", revision="{pushed.tag}")', markup=False
        )


@releases_app.command("list")
def releases_list(artifacts: ArtifactsOption = Path("artifacts")) -> None:
    """List the releases recorded in the catalog."""
    with _catalog(artifacts) as catalog:
        columns, rows = catalog.query(
            "SELECT name, version, created_at, run_id, n_samples, path FROM v_releases "
            "ORDER BY name, created_at"
        )
    _print_rows(columns, rows)


@releases_app.command("diff")
def releases_diff(
    old: Annotated[str, typer.Argument(help="Older version, e.g. 0.1.0.")],
    new: Annotated[str, typer.Argument(help="Newer version, e.g. 0.2.0.")],
    name: NameOption = None,
    ids: Annotated[bool, typer.Option("--ids", help="Print the sample ids too.")] = False,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Added / removed / changed samples per scenario and variant between two versions."""
    from catalog import CatalogError
    from catalog.diff import diff_releases, release_rows

    with _catalog(artifacts) as catalog:
        release = _release_name(catalog, name)
        try:
            cells = diff_releases(
                release_rows(catalog, release, old), release_rows(catalog, release, new)
            )
        except CatalogError as exc:
            raise _fail(str(exc)) from None
    if not cells:
        console.print(f"{release} {old} and {new} hold the same samples with the same content")
        return
    table = Table(title=f"{release}: {old} -> {new}")
    for column in ("scenario", "variant", "added", "removed", "changed", "unchanged"):
        table.add_column(column, justify="left" if column in ("scenario", "variant") else "right")
    for c in cells:
        table.add_row(
            c.scenario,
            c.variant,
            *(str(len(x)) for x in (c.added, c.removed, c.changed)),
            str(c.unchanged),
        )
    console.print(table)
    if ids:
        for c in cells:
            for kind in ("added", "removed", "changed"):
                for sid in getattr(c, kind):
                    typer.echo(f"{kind}\t{c.scenario}\t{c.variant}\t{sid}")


@catalog_app.command("query")
def catalog_query(
    sql: Annotated[str, typer.Argument(help="SQL over the tables and the v_* views.")],
    attach: Annotated[
        Path | None,
        typer.Option(
            "--attach", help="A release folder: its configs become views release_<config>."
        ),
    ] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Run SQL on the catalog (read-only). Views: v_samples, v_rejections, v_llm_calls,
    v_releases, v_release_samples; tables: runs, llm_calls, questions, extractions,
    derivations, images, ocr_checks, samples, reviews, releases, diversity, overlap."""
    import duckdb

    with _catalog(artifacts) as catalog:
        if attach is not None:
            catalog.attach_release(attach)
        try:
            columns, rows = catalog.query(sql)
        except duckdb.Error as exc:
            raise _fail(str(exc)) from None
    _print_rows(columns, rows)


@export_app.command("jsonl")
def export_jsonl_command(
    release: Annotated[
        Path, typer.Argument(help="Release folder (artifacts/releases/<name>/<version>).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")],
    split: Annotated[str, typer.Option(help="test or tiny.")] = "test",
) -> None:
    """Export JSONL + image folders, one folder per scenario and variant (MM-SafetyBench style)."""
    from catalog.export import export_jsonl

    try:
        counts = export_jsonl(release, out, split)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"exported {sum(counts.values())} rows in {len(counts)} folders to {out}")


def change_line(previous: str | None, changes: list[Any]) -> str:
    """One line saying what a published version changes (its card has the full table)."""
    if previous is None:
        return "the first version of this release"
    totals = {k: sum(len(getattr(c, k)) for c in changes) for k in ("added", "removed", "changed")}
    counts = ", ".join(f"{n} {kind}" for kind, n in totals.items())
    return f"against {previous}: {counts} sample(s)"


ReleaseArgument = Annotated[
    Path, typer.Argument(help="Release folder (artifacts/releases/<name>/<version>).")
]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")]
SplitOption = Annotated[str, typer.Option(help="test or tiny.")]


@export_app.command("mm-safetybench")
def export_mm_safetybench_command(
    release: ReleaseArgument, out: OutOption, split: SplitOption = "test"
) -> None:
    """Export MM-SafetyBench's layout: OUT/processed_questions/NN-Name.json (published file
    names and ids), OUT/imgs/NN-Name/{SD,SD_TYPO,TYPO}/<id>.jpg, OUT/TinyVersion_ID_List.json.
    Its evaluation scripts run on OUT unchanged. Needs a release of the mm-safetybench taxonomy."""
    from catalog.exports import ExportError, export_mm_safetybench

    try:
        counts = export_mm_safetybench(release, out, split)
    except (ExportError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    _print_counts(counts, out)


@export_app.command("safebench")
def export_safebench_command(
    release: ReleaseArgument,
    out: OutOption,
    split: SplitOption = "test",
    dataset: Annotated[
        str, typer.Option(help="The `dataset` column and image name part.")
    ] = "ForbidQI",
) -> None:
    """Export SafeBench's layout (FigStep's data/): OUT/question/safebench.csv, SafeBench-Tiny.csv,
    the FigStep-Pro templates, and OUT/images/SafeBench/query_<dataset>_<category>_<task>_6.png.
    Needs a release of the safebench taxonomy."""
    from catalog.exports import ExportError, export_safebench

    try:
        counts = export_safebench(release, out, split, dataset)
    except (ExportError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    _print_counts(counts, out)


def _print_counts(counts: Any, out: Path) -> None:
    written = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    console.print(f"exported to {out}: {written}", highlight=False)


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    console.print(f"{len(rows)} row(s)")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.add_typer(releases_app, name="releases")
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(export_app, name="export")
