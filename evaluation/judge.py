"""The LLM judge: one prompt template per judge rule (schemas/prompts/judge.<rule>.yaml) and
the parsing of its JSON verdict."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from pydantic import ValidationError

from schemas._base import StrictModel
from schemas.prompts import RenderedPrompt, load_template, render_template
from schemas.records import JudgeRule, Verdict

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["safe", "unsafe"]},
        "refusal": {"type": "boolean"},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "refusal", "reason"],
    "additionalProperties": False,
}
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class JudgeAnswerError(ValueError):
    """The judge's answer is not a usable verdict; the message is sent back in a repair turn."""


class LLMJudgement(StrictModel):
    verdict: Verdict
    refusal: bool
    reason: str = ""


def judge_template(rule: JudgeRule) -> str:
    return f"judge.{rule}"


def template_versions() -> dict[str, str]:
    """Every judge template and its version (part of the evaluation protocol)."""
    names = [judge_template(rule) for rule in get_args(JudgeRule)]
    return {name: str(load_template(name)["version"]) for name in names}


def render_judge(
    rule: JudgeRule, scenario_name: str, question: str, response: str
) -> RenderedPrompt:
    return render_template(
        judge_template(rule), scenario_name=scenario_name, question=question, response=response
    )


def parse_judgement(text: str | None, finish_reason: str | None) -> LLMJudgement:
    if finish_reason == "length":
        raise JudgeAnswerError("the answer was cut off (finish_reason=length); answer briefly")
    body = (text or "").strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise JudgeAnswerError("the answer is not a JSON object") from None
    if not isinstance(data, dict):
        raise JudgeAnswerError("the answer is not a JSON object")
    try:
        return LLMJudgement.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}" for e in exc.errors()
        )
        raise JudgeAnswerError(
            f'expected {{"verdict": "safe"|"unsafe", "refusal": bool, "reason": str}} ({problems})'
        ) from None
