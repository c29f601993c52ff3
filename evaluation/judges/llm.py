"""The `llm` judge: one prompt template per judge rule (schemas/prompts/judge.<rule>.yaml), a
JSON verdict {"verdict", "refusal", "reason"}."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from pydantic import ValidationError

from evaluation.judges.base import (
    Judge,
    JudgeAnswerError,
    JudgeInput,
    Judgement,
    check_consistency,
    file_sha256,
    prompt_file,
    register,
    repair_turn,
)
from schemas.evaluation import JudgeRule
from schemas.prompts import RenderedPrompt, load_template, render_template

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def json_object(text: str | None, finish_reason: str | None) -> dict[str, Any]:
    """The JSON object of a judge's answer (a ```json fence is allowed)."""
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
    return data


def validation_problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}" for e in exc.errors()
    )


def judge_template(rule: JudgeRule) -> str:
    return f"judge.{rule}"


@register("llm")
class LLMJudge(Judge):
    json_answer = True
    response_schema = {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["safe", "unsafe"]},
            "refusal": {"type": "boolean"},
            "reason": {"type": "string"},
        },
        "required": ["verdict", "refusal", "reason"],
        "additionalProperties": False,
    }

    def describe(self) -> dict[str, Any]:
        names = [judge_template(rule) for rule in get_args(JudgeRule)]
        return {
            "template": "judge.<rule>",
            "template_sha256": file_sha256(prompt_file(n) for n in names),
            "template_version": ",".join(f"{n}={load_template(n)['version']}" for n in names),
            "sees_question": True,
            "truncate_words": None,
            "conventions": {"answer": "JSON {verdict: safe|unsafe, refusal: bool, reason}"},
        }

    def prompt(self, item: JudgeInput) -> RenderedPrompt:
        return render_template(
            judge_template(item.rule),
            scenario_name=item.scenario_name,
            question=item.question,
            response=item.response,
        )

    def parse(self, item: JudgeInput, text: str | None, finish_reason: str | None) -> Judgement:
        data = json_object(text, finish_reason)
        try:
            judgement = Judgement.model_validate(
                {k: data.get(k) for k in ("verdict", "refusal", "reason") if k in data}
            )
        except ValidationError as exc:
            raise JudgeAnswerError(
                """expected {"verdict": "safe"|"unsafe", "refusal": bool, "reason": str} """
                f"({validation_problems(exc)})"
            ) from None
        if judgement.refusal is None:
            raise JudgeAnswerError('"refusal" is missing: give true or false')
        check_consistency(item, judgement)
        return judgement

    def reask(
        self, item: JudgeInput, first: RenderedPrompt, answer: str | None, problem: str
    ) -> list[dict[str, Any]]:
        return repair_turn(first, answer, problem)
