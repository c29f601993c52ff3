"""Evaluating a model on a release: judge rules and prompts, the rule-based judge, rates with
confidence intervals, and the report. Pure logic: the flow (flows/evaluate.py) does the I/O."""

from evaluation.judge import (
    JUDGE_SCHEMA,
    JudgeAnswerError,
    LLMJudgement,
    parse_judgement,
    render_judge,
    template_versions,
)
from evaluation.report import Report, asr_chart, build_report, render_markdown
from evaluation.rules import RuleJudgement, load_rules, rule_judge, scenario_rules
from evaluation.samples import EvalSample, sample_messages, select_samples
from evaluation.stats import Rate, agreement, cell_stats, difference, wilson

__all__ = [
    "JUDGE_SCHEMA",
    "EvalSample",
    "JudgeAnswerError",
    "LLMJudgement",
    "Rate",
    "Report",
    "RuleJudgement",
    "agreement",
    "asr_chart",
    "build_report",
    "cell_stats",
    "difference",
    "load_rules",
    "parse_judgement",
    "render_judge",
    "render_markdown",
    "rule_judge",
    "sample_messages",
    "scenario_rules",
    "select_samples",
    "template_versions",
    "wilson",
]
