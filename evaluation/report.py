"""The evaluation report: every task type's tables (attack success, over-refusal, ...), pairwise
judge agreement, the judges' calibration against people, each judge's protocol, and example
answers per scenario x variant. Rendered as Markdown here and as one HTML page in html.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

import jinja2
import yaml

from evaluation.stats import Rate, cohen_kappa, verdict_pairs, wilson
from evaluation.tables import Table, TableCell, fmt_interval, fmt_rate, text
from evaluation.tasks import TaskContext, TaskSection, task_types
from evaluation.tasks.refusal import judge_cells
from schemas._base import StrictModel
from schemas.evaluation import CalibrationMetric, EvalResult, EvalRun, JudgeVerdict
from schemas.taxonomy import load_taxonomy
from schemas.variants import builtin_specs

_TEMPLATE = Path(__file__).with_name("report.md.j2")
EXAMPLES_PER_CELL = 2
EXAMPLE_CHARS = 600


class PairAgreement(StrictModel):
    first: str
    second: str
    attempts: int  # attempts both judged
    agree: Rate
    kappa: float | None


class Example(StrictModel):
    """One answer shown under a heat-map cell, with every judge's verdict."""

    sample_id: str
    attempt: int
    scenario_name: str
    variant: str
    question: str
    response: str
    verdicts: dict[str, str]  # judge -> "unsafe" / "safe (refusal)" / "-"


class Report(StrictModel):
    run: EvalRun
    scenarios: list[str]
    scenario_names: dict[str, str]
    variants: list[str]
    sections: list[TaskSection]
    agreement: list[PairAgreement]
    calibration: list[CalibrationMetric]
    examples: dict[str, list[Example]]  # "<scenario>|<variant>" -> answers
    # judge -> "<scenario or all>|<variant>" -> ASR on unsafe samples (the chart's bars)
    asr: dict[str, dict[str, Rate]]
    totals: dict[str, int | float]

    def tables(self) -> list[Table]:
        """The cross-task tables: judge protocols, agreement, calibration."""
        tables = [protocol_table(self.run)]
        if self.agreement:
            tables.append(agreement_table(self.agreement))
        if self.calibration:
            tables.append(calibration_table(self.calibration))
        return tables


def _variant_order(results: Sequence[EvalResult]) -> list[str]:
    present = {r.variant for r in results}
    known = [v for v in builtin_specs() if v in present]
    return known + sorted(present - set(known))


def agreements(
    run: EvalRun, verdicts: dict[str, dict[tuple[str, int], JudgeVerdict]]
) -> list[PairAgreement]:
    """Every pair of judges: raw agreement and Cohen's kappa over the attempts both judged."""
    out = []
    names = [j.name for j in run.protocol.judges]
    for first, second in combinations(names, 2):
        pairs = verdict_pairs(verdicts.get(first, {}), verdicts.get(second, {}))
        flags = [(x == "unsafe", y == "unsafe") for x, y in pairs]
        out.append(
            PairAgreement(
                first=first,
                second=second,
                attempts=len(pairs),
                agree=wilson(sum(x == y for x, y in pairs), len(pairs)),
                kappa=cohen_kappa(flags),
            )
        )
    return out


def _verdict_text(verdict: JudgeVerdict | None) -> str:
    if verdict is None or verdict.verdict is None:
        return "inconsistent" if verdict is not None and verdict.inconsistent else "-"
    extra = " (refusal)" if verdict.refusal else ""
    if verdict.categories:
        extra += " " + ",".join(verdict.categories)
    return verdict.verdict + extra


def pick_examples(
    run: EvalRun,
    results: Sequence[EvalResult],
    verdicts: dict[str, dict[tuple[str, int], JudgeVerdict]],
) -> dict[str, list[Example]]:
    """Per scenario x variant, up to two answers: one the primary judge calls unsafe and one it
    calls safe (else whatever there is), first attempts first, in a fixed order."""
    primary = verdicts.get(run.protocol.judges[0].name, {})
    cells: dict[str, list[EvalResult]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r.attempt, r.sample_id)):
        if r.error is None and r.label == "unsafe":
            cells[f"{r.scenario}|{r.variant}"].append(r)
    examples: dict[str, list[Example]] = {}
    for key, rows in cells.items():
        chosen: list[EvalResult] = []
        for wanted in ("unsafe", "safe"):
            found = next(
                (
                    r
                    for r in rows
                    if getattr(primary.get((r.sample_id, r.attempt)), "verdict", None) == wanted
                ),
                None,
            )
            if found is not None:
                chosen.append(found)
        chosen += [r for r in rows if r not in chosen][: EXAMPLES_PER_CELL - len(chosen)]
        examples[key] = [
            Example(
                sample_id=r.sample_id,
                attempt=r.attempt,
                scenario_name=r.scenario_name,
                variant=r.variant,
                question=r.question,
                response=(r.response_text or "")[:EXAMPLE_CHARS],
                verdicts={
                    name: _verdict_text(by_key.get((r.sample_id, r.attempt)))
                    for name, by_key in verdicts.items()
                },
            )
            for r in chosen[:EXAMPLES_PER_CELL]
        ]
    return examples


def build_report(
    run: EvalRun,
    results: Sequence[EvalResult],
    verdicts: Sequence[JudgeVerdict],
    calibration: Sequence[CalibrationMetric] = (),
) -> Report:
    protocol = run.protocol
    present = {r.scenario for r in results}
    order = [s.slug for s in load_taxonomy(protocol.taxonomy).scenarios]
    scenarios = [s for s in order if s in present] + sorted(present - set(order))
    variants = _variant_order(results)
    by_judge: dict[str, dict[tuple[str, int], JudgeVerdict]] = {j.name: {} for j in protocol.judges}
    for v in verdicts:
        by_judge.setdefault(v.judge, {})[(v.sample_id, v.attempt)] = v
    context = TaskContext(
        run=run,
        results=tuple(results),
        verdicts=by_judge,
        scenarios=tuple(scenarios),
        variants=tuple(variants),
    )
    sections = [t.section(context) for t in task_types() if t.applies(context)]
    answered = [r for r in results if not r.cached]
    totals: dict[str, int | float] = {
        "attempts": len(results),
        "model_errors": sum(r.error is not None for r in results),
        "judge_errors": sum(v.error is not None and not v.inconsistent for v in verdicts),
        "judge_inconsistent": sum(v.inconsistent for v in verdicts),
        "cached": sum(r.cached for r in results),
        "tokens_in": sum(r.tokens_in for r in results),
        "tokens_out": sum(r.tokens_out for r in results),
        "mean_latency_s": sum(r.latency_s for r in answered) / max(1, len(answered)),
    }
    return Report(
        run=run,
        scenarios=scenarios,
        scenario_names={r.scenario: r.scenario_name for r in results},
        variants=variants,
        sections=sections,
        agreement=agreements(run, by_judge),
        calibration=list(calibration),
        examples=pick_examples(run, results, by_judge),
        asr={
            j.name: {f"{s}|{v}": c.asr for (s, v), c in judge_cells(context, j).items()}
            for j in protocol.judges
        },
        totals=totals,
    )


def protocol_table(run: EvalRun) -> Table:
    rows = []
    for judge in run.protocol.judges:
        decoding = ", ".join(
            f"{k}={v}" for k, v in judge.params.items() if k != "structured_output"
        )
        # One version, or one per template (the llm judge's "judge.harmful=1,judge.refuse=1").
        version = judge.template_version
        versions = version.replace(",", ", ") if "=" in version else f"v{version}"
        rows.append(
            [
                text(judge.name),
                text(judge.model or "local (no model)"),
                text(f"{judge.template} {versions} sha256 {judge.template_sha256[:12]}"),
                text(decoding or "-"),
                text(f"{judge.truncate_words} words" if judge.truncate_words else "none"),
                text("yes" if judge.sees_question else "no"),
                text(f"{judge.aggregation} over {judge.attempts}"),
            ]
        )
    return Table(
        title="Judges and their protocols",
        columns=[
            "judge",
            "model",
            "template",
            "decoding",
            "truncation",
            "sees question",
            "attempts",
        ],
        rows=rows,
        note="The first judge is primary (examples, chart). Full protocol: protocol.json.",
    )


def agreement_table(agreement: Sequence[PairAgreement]) -> Table:
    return Table(
        title="Judge agreement (attempt level)",
        columns=["judges", "attempts", "same verdict", "Cohen's kappa"],
        rows=[
            [
                text(f"{a.first} vs {a.second}"),
                text(a.attempts),
                TableCell(text=fmt_rate(a.agree)),
                TableCell(
                    text="-" if a.kappa is None else f"{a.kappa:.3f}",
                    heat=None if a.kappa is None else max(0.0, a.kappa),
                ),
            ]
            for a in agreement
        ],
    )


def calibration_table(metrics: Sequence[CalibrationMetric]) -> Table:
    return Table(
        title="Calibration against human labels",
        columns=["judge", "items", "precision", "recall", "F1", "Cohen's kappa"],
        rows=[
            [
                text(m.judge),
                text(m.items),
                TableCell(text=fmt_interval(m.precision)),
                TableCell(text=fmt_interval(m.recall)),
                TableCell(text=fmt_interval(m.f1)),
                TableCell(
                    text=fmt_interval(m.kappa),
                    flag=f"kappa below {m.threshold}" if m.flagged else None,
                ),
            ]
            for m in metrics
        ],
        note=(
            "Human majority label unsafe vs safe or refusal; items weighted back to the run "
            "(disagreements were oversampled); bootstrap 95% intervals resampling within the "
            "disagreement and agreement parts."
        ),
    )


def markdown_table(table: Table) -> str:
    def cell(c: TableCell) -> str:
        body = c.text.replace("|", "\\|")
        return f"{body} ⚠" if c.flag else body

    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows),
    ]
    flags = sorted({c.flag for row in table.rows for c in row if c.flag})
    notes = [table.note] if table.note else []
    notes += [f"⚠ {flag}" for flag in flags]
    return "\n".join([f"### {table.title}", "", *lines, "", *(f"{n}\n" for n in notes)]).strip()


def render_markdown(report: Report, chart: str | None = None) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["table"] = markdown_table
    template = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    protocol = yaml.safe_dump(
        report.run.protocol.model_dump(mode="json"), sort_keys=False, width=100
    )
    return template.render(report=report, protocol=protocol, chart=chart).strip() + "\n"
