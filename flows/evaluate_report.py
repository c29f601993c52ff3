"""Write the report of a recorded evaluation run: report.md, report.html (self-contained: charts
and example images embedded), asr.png and protocol.json. Example images are read back from the
release the run evaluated; a release that moved leaves the page without them, saying so."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from catalog import Catalog
from evaluation import build_report, render_markdown
from evaluation.charts import agreement_chart, asr_chart, calibration_chart
from evaluation.html import render_html, thumbnail
from evaluation.report import Report
from flows.evaluate import find_run, load_samples, resolve_release
from schemas.evaluation import EvalRun


def load_report(artifacts: Path, run: str) -> Report:
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        record = find_run(catalog, run)
        where, key = "run_id = ?", [record.run_id]
        results = catalog.records("eval_results", where, key)
        verdicts = catalog.records("eval_verdicts", where, key)
        calibration = catalog.records("eval_calibration", where, key)
    order = {j.name: i for i, j in enumerate(record.protocol.judges)}
    calibration.sort(key=lambda m: order.get(m.judge, len(order)))
    return build_report(record, results, verdicts, calibration)


def example_thumbnails(
    run: EvalRun, sample_ids: Sequence[str], artifacts: Path
) -> dict[str, list[str]]:
    """Thumbnails (data URIs) of the example samples' images, read from the release."""
    wanted = set(sample_ids)
    protocol = run.protocol
    try:
        source = resolve_release(
            f"{protocol.release}@{protocol.revision}"
            if not Path(protocol.release).is_dir() and protocol.revision
            else protocol.release
        )
    except (ValueError, OSError):
        return {}
    thumbs: dict[str, list[str]] = {}
    for config in protocol.configs:
        for sample in load_samples(
            source, config, protocol.split, artifacts / "cache" / "datasets"
        ):
            if sample.sample_id in wanted and sample.images:
                thumbs[sample.sample_id] = [thumbnail(image) for image in sample.images]
    return thumbs


def write_report(artifacts: Path, run: str, out_dir: Path | None = None) -> tuple[str, Path]:
    """Render the report of a recorded run into `out_dir` (default
    `<artifacts>/evaluations/<run id>/`); returns (markdown, folder)."""
    report = load_report(artifacts, run)
    folder = out_dir or artifacts / "evaluations" / report.run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    asr = asr_chart(report)
    (folder / "asr.png").write_bytes(asr)
    markdown = render_markdown(report, chart="asr.png")
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    examples = [e.sample_id for cell in report.examples.values() for e in cell]
    page = render_html(
        report,
        charts={
            "Attack success rate by scenario and variant (primary judge)": asr,
            "Judge agreement": agreement_chart(report),
            "Calibration against human labels": calibration_chart(report),
        },
        thumbnails=example_thumbnails(report.run, examples, artifacts),
        markdown=markdown,
    )
    (folder / "report.html").write_text(page, encoding="utf-8")
    (folder / "protocol.json").write_text(
        report.run.protocol.model_dump_json(indent=2), encoding="utf-8"
    )
    return markdown, folder
