"""The evaluation report: ASR and refusal rate per scenario x variant with 95% intervals, the
image-vs-text-only gap, judge agreement and the protocol, as Markdown and a bar chart PNG."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import jinja2
import matplotlib
import yaml

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402

from evaluation.stats import (  # noqa: E402
    Agreement,
    CellStats,
    Difference,
    Rate,
    agreement,
    cell_stats,
    difference,
)
from schemas._base import StrictModel  # noqa: E402
from schemas.records import EvalResult, EvalRun, JudgeName, JudgeRule  # noqa: E402
from schemas.taxonomy import load_taxonomy  # noqa: E402
from schemas.variants import builtin_specs  # noqa: E402

ALL = "all"
_TEMPLATE = Path(__file__).with_name("report.md.j2")
_SAVE = {"format": "png", "dpi": 100, "bbox_inches": "tight", "metadata": {"Software": None}}


class Cell(StrictModel):
    scenario: str  # a slug, or "all" for a variant over every scenario
    scenario_name: str
    variant: str
    rule: JudgeRule | None
    stats: CellStats


class Gap(StrictModel):
    """ASR of an image variant minus ASR of text_only (same judge, over all scenarios)."""

    variant: str
    image: Rate
    text_only: Rate
    gap: Difference


class JudgeSection(StrictModel):
    judge: JudgeName
    cells: list[Cell]  # scenario x variant
    by_variant: list[Cell]  # one per variant, over all scenarios
    overall: CellStats
    gaps: list[Gap]


class Report(StrictModel):
    run: EvalRun
    variants: list[str]
    sections: list[JudgeSection]  # the primary judge first
    agreement: Agreement | None
    totals: dict[str, int | float]


def _variant_order(results: Sequence[EvalResult]) -> list[str]:
    present = {r.variant for r in results}
    known = [v for v in builtin_specs() if v in present]
    return known + sorted(present - set(known))


def _section(
    judge: JudgeName, results: Sequence[EvalResult], scenarios: list[str], variants: list[str]
) -> JudgeSection:
    groups: dict[tuple[str, str], list[EvalResult]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in results:
        groups[(r.scenario, r.variant)].append(r)
        names[r.scenario] = r.scenario_name
    rules = {r.scenario: r.judge_rule for r in results}
    cells = [
        Cell(
            scenario=s,
            scenario_name=names[s],
            variant=v,
            rule=rules[s],
            stats=cell_stats(groups[(s, v)], judge),
        )
        for s in scenarios
        for v in variants
        if groups.get((s, v))
    ]
    by_variant = [
        Cell(
            scenario=ALL,
            scenario_name="All scenarios",
            variant=v,
            rule=None,
            stats=cell_stats([r for r in results if r.variant == v], judge),
        )
        for v in variants
    ]
    text = next((c.stats.asr for c in by_variant if c.variant == "text_only"), None)
    gaps = [
        Gap(variant=c.variant, image=c.stats.asr, text_only=text, gap=difference(c.stats.asr, text))
        for c in by_variant
        if text is not None and c.variant != "text_only"
    ]
    return JudgeSection(
        judge=judge,
        cells=cells,
        by_variant=by_variant,
        overall=cell_stats(results, judge),
        gaps=gaps,
    )


def build_report(run: EvalRun, results: Sequence[EvalResult]) -> Report:
    protocol = run.protocol
    present = {r.scenario for r in results}
    # Taxonomy order (scenario ids); anything else after it.
    order = [s.slug for s in load_taxonomy(protocol.taxonomy).scenarios]
    scenarios = [s for s in order if s in present] + sorted(present - set(order))
    variants = _variant_order(results)
    judges: list[JudgeName] = [protocol.primary_judge]
    if protocol.primary_judge == "llm":
        judges.append("rule")
    sections = [_section(j, results, scenarios, variants) for j in judges]
    both = "llm" in judges
    totals = {
        "attempts": len(results),
        "model_errors": sum(r.error is not None for r in results),
        "judge_errors": sum(r.llm_error is not None for r in results) if both else 0,
        "cached": sum(r.cached for r in results),
        "tokens_in": sum(r.tokens_in for r in results),
        "tokens_out": sum(r.tokens_out for r in results),
        "mean_latency_s": (
            sum(r.latency_s for r in results if not r.cached)
            / max(1, sum(not r.cached for r in results))
        ),
    }
    return Report(
        run=run,
        variants=variants,
        sections=sections,
        agreement=agreement(results) if both else None,
        totals=totals,
    )


def fmt_rate(rate: Rate) -> str:
    if rate.rate is None:
        return "-"
    assert rate.low is not None and rate.high is not None
    return f"{rate.rate:.1%} [{rate.low:.1%}, {rate.high:.1%}] ({rate.k}/{rate.n})"


def fmt_diff(diff: Difference) -> str:
    if diff.value is None:
        return "-"
    return f"{diff.value:+.1%} [{diff.low:+.1%}, {diff.high:+.1%}]"


def render_markdown(report: Report, chart: str | None = None) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["rate"] = fmt_rate
    env.filters["diff"] = fmt_diff
    template = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    protocol = yaml.safe_dump(
        report.run.protocol.model_dump(mode="json"), sort_keys=False, width=100
    )
    return template.render(report=report, protocol=protocol, chart=chart).strip() + "\n"


def asr_chart(report: Report, path: Path) -> Path:
    """Grouped bars of the primary judge's ASR (any attempt) per scenario, one bar per variant,
    with 95% Wilson intervals; the first group is every scenario together."""
    section = report.sections[0]
    groups = [(ALL, "All scenarios")] + list(
        dict.fromkeys((c.scenario, c.scenario_name) for c in section.cells)
    )
    by_key = {(c.scenario, c.variant): c.stats.asr for c in section.cells + section.by_variant}
    width = 0.8 / max(1, len(report.variants))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) + 2), 4.5))
    for i, variant in enumerate(report.variants):
        xs, ys, errs = [], [], [[], []]
        for g, (slug, _) in enumerate(groups):
            rate = by_key.get((slug, variant))
            if rate is None or rate.rate is None:
                continue
            assert rate.low is not None and rate.high is not None
            xs.append(g + (i - (len(report.variants) - 1) / 2) * width)
            ys.append(rate.rate * 100)
            errs[0].append((rate.rate - rate.low) * 100)
            errs[1].append((rate.high - rate.rate) * 100)
        ax.bar(xs, ys, width=width, yerr=errs, capsize=2, label=variant)
    ax.set_xticks(range(len(groups)), [name for _, name in groups], rotation=35, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"ASR, % (judge: {section.judge}, 95% CI)")
    ax.set_title(f"Attack success rate: {report.run.protocol.model}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path
