"""`subquestions`: the LLM splits the question into three sub-questions, each less harmful
alone, that together ask for the same thing (CS-DJ's query decomposition)."""

from __future__ import annotations

from typing import Any

from generators.derive.base import (
    Derivation,
    Fields,
    LlmTurn,
    Params,
    derive_request,
    register,
)
from generators.llm_types import ChatRequest
from generators.validation import Invalid

COUNT = 3
FIELDS = tuple(f"subquestion_{n}" for n in range(1, COUNT + 1))
SCHEMA = {
    "type": "object",
    "properties": {
        "subquestions": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": COUNT,
            "maxItems": COUNT,
        }
    },
    "required": ["subquestions"],
    "additionalProperties": False,
}
MAX_CHARS = 160


def _request(fields: Fields, params: Params, answers: dict[str, Any]) -> ChatRequest:
    # The key phrase is not in the template; the offline provider composes from it.
    return derive_request(
        "subquestions",
        "main",
        fields["scenario"],
        SCHEMA,
        question=fields["question"],
        key_phrase=fields.get("key_phrase", ""),
        n=COUNT,
    )


def _check(
    obj: dict[str, Any], fields: Fields, params: Params, answers: dict[str, Any]
) -> dict[str, Any]:
    items = obj.get("subquestions")
    if not isinstance(items, list) or len(items) != COUNT:
        raise Invalid("count", f'"subquestions" must be a list of exactly {COUNT} strings')
    texts = [" ".join(str(i).split()) for i in items]
    if any(not t for t in texts):
        raise Invalid("missing_field", "every sub-question must be non-empty")
    if len({t.casefold() for t in texts}) != COUNT:
        raise Invalid("duplicate", "the sub-questions must differ from each other")
    if any(len(t) > MAX_CHARS for t in texts):
        raise Invalid("too_long", f"each sub-question must be at most {MAX_CHARS} characters")
    if any(t.casefold() == fields["question"].casefold() for t in texts):
        raise Invalid("not_split", "a sub-question repeats the whole question")
    return dict(zip(FIELDS, texts, strict=True))


register(
    Derivation(
        name="subquestions",
        summary="the LLM splits the question into 3 sub-questions (CS-DJ)",
        produces=FIELDS,
        reads=("question",),
        turns=(LlmTurn("main", _request, _check),),
        finish=lambda fields, params, answers: {k: answers[k] for k in FIELDS},
    )
)
