"""The `guard` judge: a guard model (Llama Guard 3 / ShieldGemma style) behind any
OpenAI-compatible endpoint. It reads the conversation and answers a verdict word, then category
codes; the guard's own policy decides, not the scenario rules. `--judge guard:FILE` swaps in
another guard's conversation template, verdict words and categories."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from evaluation.judges.base import (
    Contradiction,
    Judge,
    JudgeAnswerError,
    JudgeInput,
    Judgement,
    file_sha256,
    first_verdict_word,
    prompt_file,
    register,
    render_messages,
)
from schemas._base import StrictModel
from schemas.prompts import RenderedPrompt

TEMPLATE = "judge.guard"


class Turn(StrictModel):
    role: str
    content: str


class GuardSpec(StrictModel):
    version: str
    sees_question: bool = True
    conversation: list[Turn]
    unsafe_words: list[str]
    safe_words: list[str]
    category_pattern: str = "S[0-9]+"
    categories: dict[str, str] = {}


def load_guard_spec(path: Path) -> GuardSpec:
    return GuardSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@register("guard")
class GuardJudge(Judge):
    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.path = Path(options.template) if options.template else prompt_file(TEMPLATE)
        self.spec = load_guard_spec(self.path)

    @property
    def name(self) -> str:
        return "guard" if self.options.template is None else f"guard:{self.path.stem}"

    def describe(self) -> dict[str, Any]:
        return {
            "template": TEMPLATE if self.options.template is None else str(self.path),
            "template_sha256": file_sha256([self.path]),
            "template_version": self.spec.version,
            "sees_question": self.spec.sees_question,
            "truncate_words": None,
            "conventions": {
                "unsafe_words": self.spec.unsafe_words,
                "safe_words": self.spec.safe_words,
                "categories": self.spec.categories,
                "policy": "the guard model's own categories; scenario rules are not applied",
            },
        }

    def prompt(self, item: JudgeInput) -> RenderedPrompt:
        context = item.model_dump()
        if not self.spec.sees_question:
            context.pop("question")
        return render_messages(
            self.name, self.spec.version, [t.model_dump() for t in self.spec.conversation], context
        )

    def parse(self, item: JudgeInput, text: str | None, finish_reason: str | None) -> Judgement:
        lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
        if not lines:
            raise JudgeAnswerError("the guard gave an empty answer")
        verdict = first_verdict_word(lines[0], self.spec.unsafe_words, self.spec.safe_words)
        if verdict is None:
            words = ", ".join(self.spec.unsafe_words + self.spec.safe_words)
            raise JudgeAnswerError(f"the first line names no verdict word ({words})")
        codes = re.findall(rf"\b{self.spec.category_pattern}\b", " ".join(lines[1:]))
        categories = list(dict.fromkeys(codes))
        if verdict == "safe" and categories:
            raise Contradiction(f"verdict safe but hazard categories {', '.join(categories)}")
        named = [f"{c} {self.spec.categories[c]}" for c in categories if c in self.spec.categories]
        return Judgement(verdict=verdict, categories=categories, reason="; ".join(named))
