"""CLI: `safetyforge quality diversity|overlap RELEASE` (measures recorded in the catalog, with
a chart) and `safetyforge view RELEASE` (a static HTML gallery).

Thin wrappers: the measures live in `catalog/quality/`, the gallery in `catalog/gallery.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

quality_app = typer.Typer(
    help="Measure a release's quality: diversity per scenario, overlap with other question sets.",
    no_args_is_help=True,
)
ReleaseArgument = Annotated[
    str,
    typer.Argument(
        help="Release folder: artifacts/releases/NAME/X.Y.Z, artifacts/releases/NAME@X.Y.Z, "
        "or artifacts/releases/NAME (its newest version)."
    ),
]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Artifacts folder whose catalog.duckdb records the measures (default: the one the "
        "release was published from, when its catalog is there).",
    ),
]
PlotOption = Annotated[
    Path | None,
    typer.Option(
        "--plot", help="Where to write the chart (PNG; default under <artifacts>/quality/)."
    ),
]


def _fail(message: str) -> typer.Exit:
    console.print("[red]error:[/red]", end=" ")
    console.print(message, markup=False, highlight=False)
    return typer.Exit(2)


def _locate(spec: str) -> Any:
    from catalog.locate import locate_release

    try:
        return locate_release(spec)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise _fail(str(exc)) from None


def _artifacts(release: Any, artifacts: Path | None) -> Path | None:
    from catalog.locate import artifacts_of

    if artifacts is not None:
        if not (artifacts / "catalog.duckdb").is_file():
            raise _fail(f"no catalog at {artifacts / 'catalog.duckdb'}")
        return artifacts
    return artifacts_of(Path(release.folder))


def _ordered_questions(release: Any) -> list[Any]:
    from catalog.publish import scenario_names
    from catalog.quality.questions import folder_questions

    order = {slug: i for i, slug in enumerate(scenario_names(release.taxonomy))}
    questions = folder_questions(Path(release.folder))
    return sorted(questions, key=lambda q: order.get(q.scenario, len(order)))


def _plot_path(plot: Path | None, artifacts: Path | None, release: Any, kind: str) -> Path:
    if plot is not None:
        return plot
    base = artifacts if artifacts is not None else Path(".")
    return base / "quality" / f"{release.name}-{release.version}-{kind}.png"


@quality_app.command("diversity")
def quality_diversity(
    release: ReleaseArgument,
    artifacts: ArtifactsOption = None,
    plot: PlotOption = None,
) -> None:
    """Per scenario: distinct-1/2, self-similarity (mean nearest-neighbour content-word Jaccard)
    and the duplicates the question stage rejected (from the catalog: needs the build's
    catalog.duckdb, else they count as 0). Records the rows and writes a chart."""
    from catalog import Catalog
    from catalog.charts import diversity_chart
    from catalog.publish import scenario_names
    from catalog.quality.diversity import diversity
    from schemas.records import Question

    located = _locate(release)
    folder = _artifacts(located, artifacts)
    questions = _ordered_questions(located)
    if folder is None:
        console.print("no catalog found: rejected duplicates are not known (give --artifacts)")
        rows = diversity(located.name, located.version, questions, [])
    else:
        with Catalog(folder / "catalog.duckdb") as catalog:
            candidates = catalog.run_records("questions", located.run_id, Question)
            rows = diversity(located.name, located.version, questions, candidates)
            catalog.upsert("diversity", rows)
    names = scenario_names(located.taxonomy)
    table = Table(title=f"{located.name} {located.version}: diversity per scenario")
    for column in (
        "scenario",
        "questions",
        "distinct-1",
        "distinct-2",
        "self-sim",
        "proposed",
        "dup exact",
        "dup near",
        "dup share",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in rows:
        table.add_row(
            names.get(r.scenario, r.scenario),
            str(r.questions),
            f"{r.distinct_1:.3f}",
            f"{r.distinct_2:.3f}",
            "n/a" if r.self_similarity is None else f"{r.self_similarity:.3f}",
            str(r.candidates),
            str(r.exact_duplicates),
            str(r.near_duplicates),
            f"{r.duplicate_share:.1%}",
        )
    console.print(table)
    path = diversity_chart(rows, names, _plot_path(plot, folder, located, "diversity"))
    console.print(f"chart: {path}", highlight=False)


@quality_app.command("overlap")
def quality_overlap(
    release: ReleaseArgument,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="A reference benchmark as FORMAT:PATH (repeatable): mm-safetybench:DIR (DIR holds "
            "processed_questions/NN-Name.json) or safebench:CSV (FigStep's safebench.csv). "
            "Without it: every earlier version of the release recorded in the catalog.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Near-match similarity (default: the build's llm.near_duplicate_threshold)."
        ),
    ] = None,
    examples: Annotated[
        int, typer.Option(help="Print this many closest pairs per comparison.")
    ] = 5,
    artifacts: ArtifactsOption = None,
    plot: PlotOption = None,
) -> None:
    """Questions of the release that also occur in another set: the same text (exact, after
    normalising case and spacing) or a content-word Jaccard similarity >= threshold (near).
    Per scenario of the release; recorded in the catalog with a chart."""
    from catalog import Catalog
    from catalog.charts import overlap_chart
    from catalog.publish import scenario_names
    from catalog.quality.overlap import best_matches, overlap
    from catalog.quality.references import ReferenceError, read_reference, reference_label
    from catalog.quality.report import earlier_versions

    located = _locate(release)
    folder = _artifacts(located, artifacts)
    limit = located.near_duplicate_threshold if threshold is None else threshold
    questions = _ordered_questions(located)
    others: dict[str, list[Any]] = {}
    try:
        for spec in against or []:
            others[reference_label(spec)] = read_reference(spec)
    except ReferenceError as exc:
        raise _fail(str(exc)) from None
    if not against:
        if folder is None:
            raise _fail(
                "give --against FORMAT:PATH, or --artifacts to compare with earlier versions"
            )
        with Catalog(folder / "catalog.duckdb", read_only=True) as catalog:
            others = earlier_versions(catalog, located.name, located.version)
        if not others:
            raise _fail(f"{located.name} has no version before {located.version} in the catalog")
    rows = []
    names = scenario_names(located.taxonomy)
    for label, other in others.items():
        matches = best_matches(questions, other)
        rows += overlap(located.name, located.version, label, matches, questions, limit)
        found = sorted((m for m in matches if m is not None), key=lambda m: -m.similarity)
        console.print(f"[bold]{label}[/bold]: {len(other)} questions; closest pairs:")
        for m in found[:examples]:
            console.print(
                f"  {m.similarity:.2f}{' exact' if m.exact else ''}  {m.question.text}  <->  "
                f"{m.match.text} ({m.match.question_id})",
                markup=False,
                highlight=False,
            )
    table = Table(title=f"{located.name} {located.version}: overlap (near >= {limit:g})")
    for column in (
        "compared with",
        "scenario",
        "questions",
        "exact",
        "near",
        "share",
        "mean best sim",
    ):
        table.add_column(
            column, justify="left" if column in ("compared with", "scenario") else "right"
        )
    for r in rows:
        table.add_row(
            r.against,
            names.get(r.scenario, r.scenario),
            str(r.questions),
            str(r.exact),
            str(r.near),
            f"{(r.exact + r.near) / r.questions:.1%}",
            f"{r.mean_best_similarity:.3f}",
        )
    console.print(table)
    if folder is not None:
        with Catalog(folder / "catalog.duckdb") as catalog:
            catalog.upsert("overlap", rows)
        console.print(f"recorded in {folder / 'catalog.duckdb'} (table overlap)", highlight=False)
    path = overlap_chart(rows, names, _plot_path(plot, folder, located, "overlap"))
    console.print(f"chart: {path}", highlight=False)


def _catalog_facts(artifacts: Path, run_id: str, with_rejected: bool) -> tuple[Any, list[Any]]:
    """The decision per sample of the run, and (asked for) its rejected samples with images."""
    from catalog import Catalog
    from catalog.gallery import ExtraSample, ReviewNote
    from catalog.release import LABEL_COLUMN, TEXT_COLUMNS, sample_label
    from schemas.images import image_bytes
    from schemas.records import Sample

    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        _, rows = catalog.query(
            "SELECT sample_id, decision, reviewer, review_reason FROM v_samples "
            "WHERE run_id = ? AND decision IS NOT NULL",
            [run_id],
        )
        notes = {
            sid: ReviewNote(decision=decision, reviewer=reviewer, reason=reason or "")
            for sid, decision, reviewer, reason in rows
        }
        if not with_rejected:
            return notes, []
        rejected = [
            s for s in catalog.run_records("samples", run_id, Sample) if s.status == "rejected"
        ]
        images = catalog.images_by_id(i for s in rejected for i in s.image_ids)
    extra = []
    for sample in rejected:
        row = {c: getattr(sample, c, "") or "" for c in TEXT_COLUMNS} | {
            "id": sample.sample_id,
            "question_id": sample.twin_of or sample.question_id,
            LABEL_COLUMN: sample_label(sample),
            "warnings": sample.warnings,
        }
        try:
            data = [image_bytes(artifacts, images[i]) for i in sample.image_ids]
        except (KeyError, OSError):
            data = []  # the image is gone from artifacts/: show the text and the reason
        extra.append(ExtraSample(row=row, images=data))
    return notes, extra


def view(
    release: ReleaseArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: <artifacts>/views/NAME-VERSION.html)."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="test (everything) or tiny.")] = "test",
    rejected: Annotated[
        bool,
        typer.Option(
            "--rejected",
            help="Also show the run's rejected samples (from the catalog and artifacts).",
        ),
    ] = False,
    thumb: Annotated[
        int, typer.Option(help="Thumbnail size: longest side in pixels.", min=32, max=1024)
    ] = 256,
    workers: Annotated[int, typer.Option(help="Thumbnail processes (0: one per CPU).", min=0)] = 0,
    artifacts: ArtifactsOption = None,
) -> None:
    """Write one self-contained static HTML gallery of a release (no server: open the file).

    Filter by scenario, variant, review outcome and warnings, or search; each sample shows its
    image thumbnails, prompt, question, key phrase, review outcome and warnings. The decisions
    come from the build catalog when it is found (else every published sample shows as accepted).
    """
    from catalog.gallery import write_gallery
    from catalog.publish import scenario_names

    located = _locate(release)
    folder = _artifacts(located, artifacts)
    if rejected and folder is None:
        raise _fail("--rejected needs the build's catalog: give --artifacts")
    notes, extra = _catalog_facts(folder, located.run_id, rejected) if folder else ({}, [])
    suffix = "" if split == "test" else f"-{split}"
    target = (
        out or (folder or Path(".")) / "views" / f"{located.name}-{located.version}{suffix}.html"
    )
    try:
        stats = write_gallery(
            Path(located.folder),
            target,
            split=split,
            reviews=notes,
            extra=extra,
            scenario_names=scenario_names(located.taxonomy),
            max_side=thumb,
            workers=workers,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"gallery of {stats.samples} samples ({stats.images} images, "
        f"{stats.bytes / 1e6:.1f} MB): {stats.path}",
        highlight=False,
    )
    console.print(f"open it in a browser: file://{Path(stats.path).resolve()}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(quality_app, name="quality")
    app.command("view")(view)
