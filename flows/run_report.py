"""Prefect artifacts for one build run: a markdown summary and a table of counts/rejections,
shown on the flow run's page in the Prefect UI (and kept with the run on the server)."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.summary import headline

SUMMARY_KEY = "build-summary"
COUNTS_KEY = "build-counts"
_HEADLINE = (
    "questions_accepted",
    "questions_new",
    "key_phrases_accepted",
    "samples_accepted",
    "samples_rejected",
    "llm_requests",
    "llm_cache_hits",
    "images_drawn",
    "images_reused",
)


def count_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per number: headline counts, rejections by reason, accepted per scenario/variant."""
    rows = [{"kind": "total", "name": key, "count": summary[key]} for key in _HEADLINE]
    rows += [
        {"kind": "rejection", "name": reason, "count": n}
        for reason, n in summary["rejections"].items()
    ]
    rows += [{"kind": "accepted", "name": key, "count": n} for key, n in summary["counts"].items()]
    return rows


def summary_markdown(summary: dict[str, Any], flow_run_id: str | None) -> str:
    lines = [
        f"# Build {summary['run_id']}",
        "",
        f"**{headline(summary)}**",
        "",
        f"- flow run: `{flow_run_id or '-'}` (recorded in the catalog's `runs.flow_run_id`)",
        f"- release: **{summary['release_status']}** at `{summary['release_path']}`",
    ]
    if summary.get("previous_run"):
        lines.append(
            f"- continues run `{summary['previous_run']}`: {summary['questions_kept']} "
            f"question(s) kept, {summary['questions_new']} new"
        )
    if summary.get("review"):
        review = summary["review"]
        lines.append(
            f"- Label Studio: {review['tasks_pushed']} task(s) pushed, "
            f"{review['annotator_decisions']} annotator decision(s) in the project, "
            f"{review['corrected_key_phrases']} corrected key phrase(s) re-rendered, "
            f"{review['samples_pending']} sample(s) still under review"
        )
    if summary.get("lock_wait_s"):
        lines.append(f"- waited {summary['lock_wait_s']} s for another run on the same artifacts")
    lines += [
        "",
        "| count | value |",
        "|---|---:|",
        *(f"| {key} | {summary[key]} |" for key in _HEADLINE),
    ]
    if summary["skipped_variants"]:
        lines += ["", f"Skipped variants: {', '.join(summary['skipped_variants'])}"]
    if summary["rejections"]:
        lines += ["", "| rejection | n |", "|---|---:|"]
        lines += [f"| {reason} | {n} |" for reason, n in summary["rejections"].items()]
    if summary["release_status"] == "published" and summary.get("release_changes"):
        lines += [
            "",
            f"## Release diff: {summary['release_previous'] or 'nothing (first version)'} -> "
            f"{summary['release_version']}",
            "",
            "| scenario | variant | added | removed | changed |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {c['scenario']} | {c['variant']} | {c['added']} | {c['removed']} | {c['changed']} |"
            for c in summary["release_changes"]
        ]
    return "\n".join(lines) + "\n"


def publish_run_artifacts(summary: dict[str, Any], flow_run_id: str | None) -> None:
    """Attach both artifacts to the current flow run."""
    create_markdown_artifact(
        markdown=summary_markdown(summary, flow_run_id),
        key=SUMMARY_KEY,
        description="SafetyForge build summary",
    )
    create_table_artifact(
        table=count_rows(summary), key=COUNTS_KEY, description="Counts and rejections"
    )
