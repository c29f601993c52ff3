"""PNG charts for the dataset card: scenario distribution, review outcomes, diversity and
overlap (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on build machines
import matplotlib.pyplot as plt  # noqa: E402

from catalog.outcomes import OutcomeCount  # noqa: E402
from schemas.quality import DiversityRow, OverlapRow, QualityReport  # noqa: E402

QUALITY_CHARTS = {"diversity": "charts/diversity.png", "overlap": "charts/overlap.png"}

# No software/version stamp, so the same counts give the same bytes on this matplotlib.
_SAVE = {"format": "png", "dpi": 100, "bbox_inches": "tight", "metadata": {"Software": None}}


def scenario_chart(counts: Mapping[str, Mapping[str, int]], path: Path) -> Path:
    """Stacked horizontal bars: samples per scenario (rows), one colour per variant."""
    scenarios = list(counts)
    variants = sorted({v for row in counts.values() for v in row})
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(scenarios) + 1.5))
    left = [0] * len(scenarios)
    for variant in variants:
        values = [counts[s].get(variant, 0) for s in scenarios]
        ax.barh(scenarios, values, left=left, label=variant)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.set_title("Samples per scenario and variant")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path


def review_chart(outcomes: Sequence[OutcomeCount], path: Path) -> Path:
    """Horizontal bars: accepted per stage, then rejected per stage and reason."""
    labels = [
        f"{o.stage}: accepted" if o.outcome == "accepted" else f"{o.stage}: {o.reason}"[:60]
        for o in outcomes
    ]
    colours = ["tab:green" if o.outcome == "accepted" else "tab:red" for o in outcomes]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(outcomes), 1) + 1.5))
    ax.barh(labels, [o.count for o in outcomes], color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("records")
    ax.set_title("Review outcomes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path


def example_sheet(images: Sequence[bytes], path: Path, height: int = 160, gap: int = 8) -> Path:
    """One sample's images side by side at a common height (a variant's example in the card)."""
    import io

    from PIL import Image

    opened = []
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            scale = height / image.height
            size = (max(1, round(image.width * scale)), height)
            if "A" in image.getbands():  # shown on white, as a viewer's page shows it
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            opened.append(image.convert("RGB").resize(size, Image.LANCZOS))
    width = sum(i.width for i in opened) + gap * (len(opened) - 1)
    sheet = Image.new("RGB", (width, height), (200, 200, 200))
    x = 0
    for image in opened:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG", optimize=True)
    return path


def _panels(
    rows: Sequence[str], series: Mapping[str, Sequence[float]], title: str, path: Path
) -> Path:
    """Small multiples: one panel of horizontal bars per series, rows shared, values in [0, 1]."""
    fig, axes = plt.subplots(
        1,
        len(series),
        sharey=True,
        squeeze=False,
        figsize=(2.2 * len(series) + 2.2, 0.3 * len(rows) + 1.6),
    )
    for ax, (label, values) in zip(axes[0], series.items(), strict=True):
        ax.barh(rows, values, color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(label, fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path


def diversity_chart(rows: Sequence[DiversityRow], names: Mapping[str, str], path: Path) -> Path:
    """Per scenario: distinct-1, distinct-2, self-similarity and the share of duplicates rejected."""
    return _panels(
        [names.get(r.scenario, r.scenario) for r in rows],
        {
            "distinct-1": [r.distinct_1 for r in rows],
            "distinct-2": [r.distinct_2 for r in rows],
            "self-similarity": [r.self_similarity or 0.0 for r in rows],
            "duplicates rejected\n(share of proposed)": [r.duplicate_share for r in rows],
        },
        "Question diversity per scenario",
        path,
    )


def overlap_chart(rows: Sequence[OverlapRow], names: Mapping[str, str], path: Path) -> Path:
    """Per scenario, one panel per other set: share of questions found in it (exact or near)."""
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    series: dict[str, list[float]] = {}
    for against in dict.fromkeys(r.against for r in rows):
        cells = {r.scenario: r for r in rows if r.against == against}
        series[against] = [
            (cells[s].exact + cells[s].near) / cells[s].questions if s in cells else 0.0
            for s in scenarios
        ]
    threshold = rows[0].threshold if rows else 0.0
    return _panels(
        [names.get(s, s) for s in scenarios],
        series,
        f"Share of questions also in another set (same text, or similarity >= {threshold:g})",
        path,
    )


def quality_charts(report: QualityReport, names: Mapping[str, str], folder: Path) -> list[Path]:
    """The card's diversity chart, and its overlap chart when anything was compared."""
    paths = [diversity_chart(report.diversity, names, folder / QUALITY_CHARTS["diversity"])]
    if report.overlap:
        paths.append(overlap_chart(report.overlap, names, folder / QUALITY_CHARTS["overlap"]))
    return paths
