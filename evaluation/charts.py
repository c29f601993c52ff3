"""The report's figures as PNG bytes: ASR bars per scenario and variant, the judges' pairwise
kappa matrix, and each judge's calibration against people (all with 95% intervals)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evaluation.report import Report  # noqa: E402

_SAVE = {"format": "png", "dpi": 100, "bbox_inches": "tight", "metadata": {"Software": None}}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, **_SAVE)
    plt.close(fig)
    return buffer.getvalue()


def asr_chart(report: Report) -> bytes:
    """Grouped bars of the primary judge's ASR per scenario, one bar per variant, with 95%
    Wilson intervals; the first group is every scenario together."""
    judge = report.run.protocol.judges[0].name
    rates = report.asr.get(judge, {})
    labels = dict.fromkeys(["all", *report.scenarios])
    groups = [s for s in labels if any(k.startswith(f"{s}|") for k in rates)]
    width = 0.8 / max(1, len(report.variants))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) + 2), 4.5))
    for i, variant in enumerate(report.variants):
        xs, ys, errs = [], [], [[], []]
        for g, scenario in enumerate(groups):
            rate = rates.get(f"{scenario}|{variant}")
            if rate is None or rate.rate is None:
                continue
            assert rate.low is not None and rate.high is not None
            xs.append(g + (i - (len(report.variants) - 1) / 2) * width)
            ys.append(rate.rate * 100)
            errs[0].append((rate.rate - rate.low) * 100)
            errs[1].append((rate.high - rate.rate) * 100)
        ax.bar(xs, ys, width=width, yerr=errs, capsize=2, label=variant)
    ax.set_xticks(
        range(len(groups)),
        [report.scenario_names.get(g, "All scenarios") for g in groups],
        rotation=35,
        ha="right",
    )
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"ASR, % (judge: {judge}, 95% CI)")
    ax.set_title(f"Attack success rate: {report.run.protocol.model}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def agreement_chart(report: Report) -> bytes | None:
    """The judges' pairwise Cohen's kappa as a matrix (1 on the diagonal)."""
    names = [j.name for j in report.run.protocol.judges]
    if len(names) < 2:
        return None
    index = {n: i for i, n in enumerate(names)}
    grid = [[1.0 if i == j else float("nan") for j in range(len(names))] for i in range(len(names))]
    for a in report.agreement:
        if a.kappa is not None:
            grid[index[a.first]][index[a.second]] = grid[index[a.second]][index[a.first]] = a.kappa
    size = 1.2 * len(names) + 2
    fig, ax = plt.subplots(figsize=(size, size - 0.8))
    image = ax.imshow(grid, vmin=-0.2, vmax=1.0, cmap="RdYlGn")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value == value:  # not NaN
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_title("Judge agreement: Cohen's kappa")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def calibration_chart(report: Report) -> bytes | None:
    """Precision, recall, F1 and kappa of each judge against the human majority, 95% CIs."""
    if not report.calibration:
        return None
    measures = ("precision", "recall", "f1", "kappa")
    width = 0.8 / len(measures)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(report.calibration) + 2), 4.0))
    for i, measure in enumerate(measures):
        xs, ys, errs = [], [], [[], []]
        for g, metric in enumerate(report.calibration):
            value = getattr(metric, measure)
            if value.value is None:
                continue
            xs.append(g + (i - (len(measures) - 1) / 2) * width)
            ys.append(value.value)
            errs[0].append(max(0.0, value.value - value.low))
            errs[1].append(max(0.0, value.high - value.value))
        ax.bar(xs, ys, width=width, yerr=errs, capsize=2, label=measure)
    threshold = report.calibration[0].threshold
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"kappa {threshold}")
    ax.set_xticks(range(len(report.calibration)), [m.judge for m in report.calibration])
    ax.set_ylim(-0.2, 1.05)
    ax.set_title("Judges vs human labels (95% bootstrap CI)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)
