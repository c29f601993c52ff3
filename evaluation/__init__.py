"""Evaluating a model on a release: judges (plug-ins, evaluation.judges), what the model is
sent, rates with intervals and paired tests, metrics per task type (evaluation.tasks), human
calibration of the judges, and the report (Markdown, HTML, charts). Pure logic: the flows
(flows/evaluate.py, flows/evaluate_report.py, flows/evaluate_calibrate.py) do the I/O."""

from evaluation.judges import (
    JUDGES,
    Judge,
    JudgeAnswerError,
    JudgeInput,
    Judgement,
    JudgeOptions,
    make_judge,
    parse_judge_option,
)
from evaluation.report import Report, build_report, render_markdown
from evaluation.rules import load_rules, scenario_rules
from evaluation.samples import EvalSample, sample_messages, select_samples
from evaluation.stats import (
    Rate,
    cell_stats,
    cohen_kappa,
    difference,
    mcnemar_exact,
    paired_difference,
    wilson,
)

__all__ = [
    "JUDGES",
    "EvalSample",
    "Judge",
    "JudgeAnswerError",
    "JudgeInput",
    "JudgeOptions",
    "Judgement",
    "Rate",
    "Report",
    "build_report",
    "cell_stats",
    "cohen_kappa",
    "difference",
    "load_rules",
    "make_judge",
    "mcnemar_exact",
    "paired_difference",
    "parse_judge_option",
    "render_markdown",
    "sample_messages",
    "scenario_rules",
    "select_samples",
    "wilson",
]
