"""The `template` judge: a researcher's own judge prompt (say, a paper's published one) in a
spec file with declared conventions, so the project need not ship it:

    name: hades                     # report column "template:hades" (default: the file's stem)
    version: "1"
    system: ...                     # optional Jinja
    user: ...                       # Jinja; or user_file: judge.j2 (relative to the spec)
    sees_question: false            # the template gets `question` only when true
    truncate_words: 75              # the answer is cut to its first 75 words
    unsafe_words: [unsafe]          # the first verdict word in the answer decides
    safe_words: [safe]
    few_shot: examples.jsonl        # optional; lines {"response", "verdict", "question"?} -> `examples`
    aggregation: any-of-K           # optional: any-of-K | mean | majority

The template sees `response`, `scenario_name`, `rule`, `prompt`, `examples` and, when declared,
`question`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from evaluation.judges.base import (
    Judge,
    JudgeAnswerError,
    JudgeInput,
    Judgement,
    JudgeOptions,
    file_sha256,
    first_verdict_word,
    register,
    render_messages,
    truncate_words,
)
from schemas._base import StrictModel
from schemas.evaluation import Aggregation
from schemas.prompts import RenderedPrompt


class TemplateSpec(StrictModel):
    name: str | None = None
    version: str = "1"
    system: str | None = None
    user: str | None = None
    user_file: str | None = None
    sees_question: bool
    truncate_words: int | None = Field(default=None, ge=1)
    unsafe_words: list[str] = Field(min_length=1)
    safe_words: list[str] = Field(min_length=1)
    few_shot: str | None = None
    aggregation: Aggregation | None = None

    @model_validator(mode="after")
    def _one_user(self) -> TemplateSpec:
        if (self.user is None) == (self.user_file is None):
            raise ValueError("give exactly one of user (inline Jinja) or user_file")
        return self


class FewShot(StrictModel):
    response: str
    verdict: str
    question: str | None = None


def _load(path: Path) -> TemplateSpec:
    if not path.is_file():
        raise ValueError(f"judge template spec {path} does not exist")
    try:
        return TemplateSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ValueError(f"judge template spec {path}: {exc}") from None


@register("template")
class TemplateJudge(Judge):
    def __init__(self, options: JudgeOptions) -> None:
        if not options.template:
            raise ValueError("the template judge needs a spec file: --judge template:PATH.yaml")
        self.path = Path(options.template)
        self.spec = _load(self.path)
        aggregation = options.aggregation or self.spec.aggregation
        super().__init__(options.model_copy(update={"aggregation": aggregation}))
        folder = self.path.parent
        self.user = self.spec.user or (folder / str(self.spec.user_file)).read_text("utf-8")
        self.files = [self.path]
        if self.spec.user_file:
            self.files.append(folder / self.spec.user_file)
        self.examples: list[dict[str, Any]] = []
        if self.spec.few_shot:
            shots = folder / self.spec.few_shot
            self.files.append(shots)
            lines = shots.read_text(encoding="utf-8").splitlines()
            self.examples = [
                FewShot.model_validate(json.loads(line)).model_dump() for line in lines if line
            ]

    @property
    def name(self) -> str:
        return f"template:{self.spec.name or self.path.stem}"

    def describe(self) -> dict[str, Any]:
        return {
            "template": str(self.path),
            "template_sha256": file_sha256(self.files),
            "template_version": self.spec.version,
            "sees_question": self.spec.sees_question,
            "truncate_words": self.spec.truncate_words,
            "conventions": {
                "unsafe_words": self.spec.unsafe_words,
                "safe_words": self.spec.safe_words,
                "few_shot": self.spec.few_shot,
                "few_shot_examples": len(self.examples),
                "verdict": "the first verdict word in the answer",
            },
        }

    def prompt(self, item: JudgeInput) -> RenderedPrompt:
        context: dict[str, Any] = {
            "response": truncate_words(item.response, self.spec.truncate_words),
            "scenario_name": item.scenario_name,
            "rule": item.rule,
            "prompt": item.prompt,
            "examples": self.examples,
        }
        if self.spec.sees_question:
            context["question"] = item.question
        turns = [{"role": "user", "content": self.user}]
        if self.spec.system:
            turns.insert(0, {"role": "system", "content": self.spec.system})
        return render_messages(self.name, self.spec.version, turns, context)

    def parse(self, item: JudgeInput, text: str | None, finish_reason: str | None) -> Judgement:
        verdict = first_verdict_word(text or "", self.spec.unsafe_words, self.spec.safe_words)
        if verdict is None:
            words = ", ".join(self.spec.unsafe_words + self.spec.safe_words)
            raise JudgeAnswerError(f"the answer names none of the verdict words ({words})")
        return Judgement(verdict=verdict, reason=(text or "").strip()[:300])
