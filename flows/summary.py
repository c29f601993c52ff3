"""The end-of-build report: counts per scenario and variant, rejections, where the release is."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from generators.llm_summary import yield_lines
from schemas.config import BuildConfig


def counts_table(
    counts: dict[str, int], variants: list[str], scenarios: list[str] | None = None
) -> Table:
    """Accepted samples per scenario and variant; every one of `scenarios` has a row, so a
    scenario that ended with none shows as zeros rather than vanishing."""
    grid: dict[str, dict[str, int]] = defaultdict(dict)
    for slug in scenarios or []:
        grid[slug] = {}
    for key, n in counts.items():
        scenario, variant = key.split("/")
        grid[scenario][variant] = n
    table = Table(title="Accepted samples per scenario and variant")
    table.add_column("scenario")
    for variant in variants:
        table.add_column(variant, justify="right")
    for scenario, row in grid.items():
        table.add_row(scenario, *(str(row.get(v, 0)) for v in variants))
    table.add_row(
        "[bold]total", *(f"[bold]{sum(r.get(v, 0) for r in grid.values())}" for v in variants)
    )
    return table


def change_totals(changes: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(c[k] for c in changes) for k in ("added", "removed", "changed")}


def headline(summary: dict[str, Any]) -> str:
    """One sentence on what the run did to the release: published what, or why nothing."""
    status, version = summary["release_status"], summary.get("release_version")
    if status == "published":
        previous = summary.get("release_previous")
        if (summary.get("unanswered") or {}).get("count"):
            return (
                f"Published {version} from an incomplete run (release.allow_incomplete): "
                f"{summary['unanswered']['count']} LLM request(s) went unanswered."
            )
        if previous is None:
            return f"Published {version}, the first version of this release."
        totals = change_totals(summary.get("release_changes") or [])
        return (
            f"Published {version}: against {previous}, {totals['added']} sample(s) added, "
            f"{totals['removed']} removed, {totals['changed']} changed."
        )
    reason = {
        "unchanged": f"the accepted samples are those of the existing version {version}",
        "pending_review": f"no sample accepted yet, {summary.get('samples_pending', 0)} still "
        "under human review",
        "empty": "no sample was accepted",
        "incomplete": "the run is incomplete (LLM requests went unanswered; see above)",
        "empty_scenarios": "scenario(s) without an accepted sample: "
        + ", ".join(summary.get("empty_scenarios") or []),
    }[status]
    if summary.get("nothing_new"):
        return f"Nothing new: no new question, image or review task; {reason}."
    return f"No new release: {reason}."


def print_rejections(console: Console, summary: dict[str, Any]) -> None:
    """One line per rule: its count and the first rejected record's reason as an example."""
    if not summary["rejections"]:
        return
    examples = summary.get("rejection_examples") or {}
    console.print("Rejections by reason:")
    for group, n in summary["rejections"].items():
        example = examples.get(group)
        shown = f"  e.g. {example[:117] + '...' if len(example) > 120 else example}"
        line = f"  {n:>5}  {group}" + (shown if example and example != group else "")
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def print_gaps(console: Console, summary: dict[str, Any]) -> None:
    """What the run lacks: unanswered LLM requests and scenarios without a sample."""
    unanswered = summary.get("unanswered") or {}
    if unanswered.get("count"):
        stages = ", ".join(f"{stage} {n}" for stage, n in unanswered["by_stage"].items())
        console.print(
            f"[red]Incomplete:[/red] {unanswered['count']} LLM request(s) went unanswered "
            f"({stages}), e.g. {unanswered['example']}. Re-run the same command: answers so "
            "far are cached and only these are asked again.",
            highlight=False,
        )
    empty = summary.get("empty_scenarios") or []
    if empty:
        console.print(
            f"[red]No accepted sample:[/red] {', '.join(empty)} (see the rejections above; "
            "release.allow_empty_scenarios: true publishes without them)",
            highlight=False,
        )


def print_summary(console: Console, summary: dict[str, Any], config: BuildConfig) -> None:
    names = [spec.name for spec in config.chosen_specs()]  # per-language ones expanded
    variants = [v for v in names if v not in summary["skipped_variants"]]
    console.print(counts_table(summary["counts"], variants, summary.get("scenarios")))
    console.print(
        f"run {summary['run_id']}: {summary['questions_accepted']} questions, "
        f"{summary['key_phrases_accepted']} key phrases, {summary['samples_accepted']} samples accepted, "
        f"{summary['samples_rejected']} rejected"
    )
    console.print(
        f"LLM: {summary['llm_requests']} requests, {summary['llm_cache_hits']} cache hits, "
        f"{summary['llm_retries']} retries, {summary['llm_errors']} errors, "
        f"latency p50 {summary['llm_latency_p50_s']:.2f} s / p95 {summary['llm_latency_p95_s']:.2f} s, "
        f"tokens {summary['tokens_in']} in / {summary['tokens_out']} out; "
        f"images: {summary['images_drawn']} drawn, {summary['images_reused']} reused"
    )
    if summary.get("twin_questions"):
        console.print(
            f"benign twins (config contrast): {summary['twin_questions']} questions, "
            f"{summary['twin_samples_accepted']} samples accepted, "
            f"{summary['twin_samples_rejected']} rejected"
        )
    if summary.get("text_leakage"):
        cells = [
            f"{variant} {cell['leaked']}/{cell['judged']}"
            for variant, cell in summary["text_leakage"].items()
        ]
        console.print(f"text leakage (prompt alone reveals the request): {', '.join(cells)}")
    for line in yield_lines(summary):
        console.print(line, markup=False, highlight=False)
    if "collection_images" in summary:
        console.print(
            f"collection: {summary['collection_images']} images ({summary['collection_imported']} "
            f"imported, {summary['collection_reused']} reused, {summary['collection_skipped']} "
            f"skipped); grounded questions: {summary['grounded_questions_accepted']} accepted, "
            f"{summary['grounded_questions_rejected']} rejected"
        )
    print_rejections(console, summary)
    print_gaps(console, summary)
    if summary.get("previous_run"):
        console.print(
            f"continues run {summary['previous_run']}: {summary['questions_kept']} question(s) "
            f"kept, {summary['questions_new']} new"
        )
    path = summary["release_path"]
    colour = {"published": "green", "unchanged": "green", "pending_review": "yellow"}
    style = colour.get(summary["release_status"], "red")
    console.print(f"[{style}]{headline(summary)}[/{style}]", highlight=False)
    console.print(f"release: {path}", markup=False, highlight=False)
    if summary["release_status"] in ("published", "unchanged"):
        first = variants[1] if len(variants) > 1 else variants[0]
        console.print("Load it with:")
        console.print(
            f"  python -c \"from datasets import load_dataset; print(load_dataset({path!r}, {first!r}, split='test'))\"",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
