"""Judges as plug-ins: one module per judge, registered by kind. `make_judge` builds one from a
user's choice (`--judge KIND[:TEMPLATE]`); a new judge is one module here plus its template."""

from evaluation.judges import (  # noqa: F401  (registration)
    guard,
    llm,
    rubric,
    rules,
    template,
    toxicity,
)
from evaluation.judges.base import (
    JUDGES,
    Contradiction,
    Judge,
    JudgeAnswerError,
    JudgeInput,
    Judgement,
    JudgeOptions,
)


def parse_judge_option(text: str) -> JudgeOptions:
    """`KIND` or `KIND:TEMPLATE` (a spec file for the template and guard judges)."""
    kind, _, spec = text.partition(":")
    if kind not in JUDGES:
        raise ValueError(f"unknown judge {kind!r} (known: {', '.join(sorted(JUDGES))})")
    return JudgeOptions(kind=kind, template=spec or None)


def make_judge(options: JudgeOptions) -> Judge:
    return JUDGES[options.kind](options)


__all__ = [
    "JUDGES",
    "Contradiction",
    "Judge",
    "JudgeAnswerError",
    "JudgeInput",
    "JudgeOptions",
    "Judgement",
    "make_judge",
    "parse_judge_option",
]
