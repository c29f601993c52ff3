"""The end-of-build report: counts per scenario and variant, rejections, where the release is."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from schemas.config import BuildConfig


def counts_table(counts: dict[str, int], variants: list[str]) -> Table:
    grid: dict[str, dict[str, int]] = defaultdict(dict)
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


def print_summary(console: Console, summary: dict[str, Any], config: BuildConfig) -> None:
    names = [spec.name for spec in config.chosen_specs()]  # per-language ones expanded
    variants = [v for v in names if v not in summary["skipped_variants"]]
    console.print(counts_table(summary["counts"], variants))
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
    if "collection_images" in summary:
        console.print(
            f"collection: {summary['collection_images']} images ({summary['collection_imported']} "
            f"imported, {summary['collection_reused']} reused, {summary['collection_skipped']} "
            f"skipped); grounded questions: {summary['grounded_questions_accepted']} accepted, "
            f"{summary['grounded_questions_rejected']} rejected"
        )
    if summary["rejections"]:
        console.print("Rejections by reason:")
        for reason, n in summary["rejections"].items():
            console.print(f"  {n:>5}  {reason}", markup=False, highlight=False)
    path = summary["release_path"]
    status = {
        "published": "[green]Release written[/green]",
        "unchanged": "[green]Release unchanged[/green] (same content as the existing version)",
        "empty": "[red]No release[/red]: no sample was accepted",
        "pending_review": "[yellow]No release yet[/yellow]: human review is not finished",
    }[summary["release_status"]]
    console.print(f"{status}: {path}")
    if summary["release_status"] in ("published", "unchanged"):
        first = variants[1] if len(variants) > 1 else variants[0]
        console.print("Load it with:")
        console.print(
            f"  python -c \"from datasets import load_dataset; print(load_dataset({path!r}, {first!r}, split='test'))\"",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
