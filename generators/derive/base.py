"""The derivation registry: text a variant needs beyond the key-phrase record.

A derivation makes named text fields for one question from its fields (and the variant's
parameters). A pure one computes them (`compute`); an LLM one asks one or more validated turns
(`turns`, each a request built from the fields and the answers so far) and then computes its
fields from the answers (`finish`). Either raises DeriveError with the reason the question
cannot have them; the sample is then kept, rejected, with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generators.llm_types import ChatRequest
from generators.validation import Invalid
from schemas.prompts import render_template

Fields = Mapping[str, Any]
Params = Mapping[str, Any]


class DeriveError(ValueError):
    """The derivation cannot make its fields for this question (the message says why)."""


@dataclass(frozen=True)
class LlmTurn:
    """One request per question: `request(fields, params, answers)` builds it (answers: the
    values of the earlier turns); `check(obj, fields, params, answers)` turns the parsed JSON
    answer into values or raises generators.validation.Invalid (which earns a repair turn)."""

    name: str
    request: Callable[[Fields, Params, dict[str, Any]], ChatRequest]
    check: Callable[[dict[str, Any], Fields, Params, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Derivation:
    name: str
    summary: str
    produces: tuple[str, ...]
    # The fields it reads (a question lacking one cannot have it).
    reads: tuple[str, ...]
    # Its parameters with defaults; a variant's `params` of the same name override them.
    params: dict[str, Any] = field(default_factory=dict)
    compute: Callable[[Fields, Params], dict[str, str]] | None = None
    turns: tuple[LlmTurn, ...] = ()
    # LLM derivations: the fields from the turns' answers (may raise DeriveError).
    finish: Callable[[Fields, Params, dict[str, Any]], dict[str, str]] | None = None

    @property
    def uses_llm(self) -> bool:
        return bool(self.turns)


DERIVATIONS: dict[str, Derivation] = {}


def register(derivation: Derivation) -> Derivation:
    if derivation.name in DERIVATIONS:
        raise ValueError(f"derivation {derivation.name!r} is registered twice")
    if (derivation.compute is None) == (not derivation.turns):
        raise ValueError(f"derivation {derivation.name!r}: give either compute or turns")
    DERIVATIONS[derivation.name] = derivation
    return derivation


def derive_request(
    derivation: str, turn: str, scenario: str, schema: dict[str, Any], **context: Any
) -> ChatRequest:
    """A request rendered from the template `derive.<derivation>[.<turn>]` with `context`; the
    context also travels in the request so the offline provider can answer from it."""
    template = f"derive.{derivation}" + ("" if turn == "main" else f".{turn}")
    rendered = render_template(template, **context)
    return ChatRequest(
        stage="derive",
        scenario=scenario,
        messages=rendered.messages,
        response_schema=schema,
        context={"derivation": derivation, "turn": turn, **context},
        prompt=rendered.provenance,
    )


def string_schema(*names: str) -> dict[str, Any]:
    """JSON schema of an object of the given string fields."""
    return {
        "type": "object",
        "properties": {name: {"type": "string"} for name in names},
        "required": list(names),
        "additionalProperties": False,
    }


def strings(obj: dict[str, Any], names: tuple[str, ...], max_chars: int = 400) -> dict[str, str]:
    """The named non-empty strings of an answer, whitespace collapsed; Invalid otherwise."""
    out = {}
    for name in names:
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            raise Invalid("missing_field", f'"{name}" must be a non-empty string')
        value = " ".join(value.split())
        if len(value) > max_chars:
            raise Invalid("too_long", f'"{name}" is longer than {max_chars} characters')
        out[name] = value
    return out
