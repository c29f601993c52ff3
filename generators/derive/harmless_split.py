"""`harmless_split`: the LLM splits the key phrase into two parts, each harmless alone
(HIMRD's risk distribution): one is drawn (and pictured by SD), the other stays in the prompt
beside a placeholder. The parts must give back the key phrase, in the stated order."""

from __future__ import annotations

import re
from typing import Any

from generators.derive.base import (
    Derivation,
    DeriveError,
    Fields,
    LlmTurn,
    Params,
    derive_request,
    register,
    string_schema,
    strings,
)
from generators.llm_types import ChatRequest
from generators.validation import Invalid

PLACEHOLDER = "[IMAGE PHRASE]"
ORDERS = ("text_first", "image_first")
SCHEMA = string_schema("text_part", "image_part", "order")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _request(fields: Fields, params: Params, answers: dict[str, Any]) -> ChatRequest:
    return derive_request(
        "harmless_split",
        "main",
        fields["scenario"],
        SCHEMA,
        question=fields["question"],
        key_phrase=fields["key_phrase"],
    )


def _check(
    obj: dict[str, Any], fields: Fields, params: Params, answers: dict[str, Any]
) -> dict[str, Any]:
    parts = strings(obj, ("text_part", "image_part", "order"), max_chars=200)
    if parts["order"] not in ORDERS:
        raise Invalid("order", f'"order" must be one of {", ".join(ORDERS)}')
    first, second = (
        (parts["text_part"], parts["image_part"])
        if parts["order"] == "text_first"
        else (parts["image_part"], parts["text_part"])
    )
    phrase = _norm(fields["key_phrase"])
    if _norm(first + " " + second) != phrase and _norm(first + second) != phrase:
        raise Invalid(
            "not_a_split",
            f"the two parts, joined in the given order, must give back the key phrase "
            f'"{fields["key_phrase"]}" exactly',
        )
    return {"split_text_part": parts["text_part"], "split_image_part": parts["image_part"],
            "split_order": parts["order"]}  # fmt: skip


def _finish(fields: Fields, params: Params, answers: dict[str, Any]) -> dict[str, str]:
    text_part = answers["split_text_part"]
    template = (
        f"{text_part} {PLACEHOLDER}"
        if answers["split_order"] == "text_first"
        else f"{PLACEHOLDER} {text_part}"
    )
    question = fields["changed_question"]
    found = re.search(re.escape(fields["key_phrase"]), question, flags=re.IGNORECASE)
    if found is None:
        raise DeriveError("the changed question does not contain the key phrase")
    return {
        "split_text_part": text_part,
        "split_image_part": answers["split_image_part"],
        "split_question": question[: found.start()] + template + question[found.end() :],
    }


register(
    Derivation(
        name="harmless_split",
        summary="the LLM splits the key phrase into an image part and a text part (HIMRD)",
        produces=("split_text_part", "split_image_part", "split_question"),
        reads=("question", "key_phrase", "changed_question"),
        turns=(LlmTurn("main", _request, _check),),
        finish=_finish,
    )
)
