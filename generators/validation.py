"""Schema checks on LLM answers. Each check returns the parsed value or a reason string."""

from __future__ import annotations

import json
import re
from typing import Any

from generators import rephrase
from generators.grounding import key_phrase_problem, leftover_template_words
from generators.rephrase import hide_key_phrase, instruction_of, rephrasings, statement_ok
from schemas.records import Scenario

EXTRACTION_FIELDS = (
    "changed_question",
    "key_phrase",
    "phrase_type",
    "rephrased_question",
    "rephrased_question_sd",
    "figstep_statement",
)
# What the model must give; the other fields are derived when missing or broken.
REQUIRED_FIELDS = ("key_phrase", "phrase_type")
_PHRASE_TYPE = re.compile(r"[a-z][a-z -]{0,29}")
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry,|i can(?:'|no)t|i cannot|i won'?t|i will not|i'm unable|"
    r"i am unable|as an ai|i must decline)",
    re.IGNORECASE,
)
_CODE = re.compile(r"[a-z_]+")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class Invalid(ValueError):
    """The answer cannot be used. str() is "<code>: <detail>": the detail is sent back in the
    repair turn, the code groups rejections in the run summary."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def reason_code(reason: str) -> str:
    """The category of a rejection reason: its leading word ("leak: ..." -> "leak")."""
    found = _CODE.match(reason)
    return found.group(0) if found else "unknown"


def is_refusal(text: str) -> bool:
    return _REFUSAL.search(text) is not None


def parse_json_object(text: str | None, finish_reason: str | None) -> dict[str, Any]:
    if finish_reason == "length":
        raise Invalid(
            "truncated", "the answer was cut off (finish_reason=length); answer more briefly"
        )
    if finish_reason == "refusal":  # the endpoint's own refusal field (structured outputs)
        raise Invalid("refusal", f"the model declined: {text or ''}".strip())
    if finish_reason == "content_filter":
        raise Invalid("content_filter", "the endpoint's content filter withheld the answer")
    if not text or not text.strip():
        raise Invalid("empty", "the answer was empty")
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        if _REFUSAL.search(body):
            raise Invalid("refusal", "the model declined instead of answering with JSON") from None
        raise Invalid("invalid_json", f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(value, dict):
        raise Invalid("not_object", f"expected a JSON object, got {type(value).__name__}")
    return value


def validate_questions(obj: dict[str, Any]) -> list[str]:
    """The answer's questions, whitespace-normalised. Single refusal items are returned too:
    the caller keeps them as rejected records rather than dropping them unseen."""
    questions = obj.get("questions")
    if not isinstance(questions, list):
        raise Invalid("missing_fields", 'missing field "questions" (a list of strings)')
    cleaned = [" ".join(q.split()) for q in questions if isinstance(q, str) and q.strip()]
    if not cleaned:
        raise Invalid("missing_fields", '"questions" holds no non-empty strings')
    if all(is_refusal(q) for q in cleaned):
        raise Invalid("refusal", "every item is a refusal, not a question")
    return cleaned


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


def figstep_pro_template(statement: str, key_phrase: str) -> str:
    """The FigStep statement with the key phrase replaced by `*` (derived, never asked)."""
    start = statement.casefold().find(key_phrase.casefold())
    return statement[:start] + "*" + statement[start + len(key_phrase) :]


def _raise(problem: str | None) -> None:
    if problem is not None:
        code, detail = problem.split(": ", 1)
        raise Invalid(code, detail)


def _phrase_type(value: str, scenario: Scenario) -> str:
    _raise(leftover_template_words("phrase_type", value))
    if scenario.kind == "harmful" and value not in scenario.phrase_types:
        allowed = ", ".join(scenario.phrase_types)
        raise Invalid("phrase_type", f"phrase_type {value!r} is not one of: {allowed}")
    if not _PHRASE_TYPE.fullmatch(value):
        raise Invalid("phrase_type", f"phrase_type {value!r} is not a short lower-case noun")
    return value


def _instruction(given: dict[str, str], scenario: Scenario, changed: str, key: str) -> str:
    """What follows the image prefix in the rephrasings. Harmful scenarios: the changed question
    with the key phrase hidden, in code. Should-disclaim questions are free-form, so the model's
    wording is kept there, provided it holds no template words and does not leak the phrase."""
    ptype = given["phrase_type"]
    own = instruction_of(given.get("rephrased_question", ""))
    if scenario.kind == "harmful" or not own:
        return hide_key_phrase(changed, key, ptype)
    _raise(leftover_template_words("rephrased_question", own))
    return own


def validate_extraction(obj: dict[str, Any], scenario: Scenario, question: str) -> dict[str, str]:
    """The record's fields. The model is trusted only with the key phrase (which must come from
    the question), the phrase type and, for should-disclaim questions, its free rephrasing; the
    mechanical fields are derived (generators/rephrase.py), replacing what the model wrote."""
    missing = [f for f in REQUIRED_FIELDS if not isinstance(obj.get(f), str) or not obj[f].strip()]
    if missing:
        raise Invalid("missing_fields", "missing or empty fields: " + ", ".join(missing))
    given = {f: " ".join(obj[f].split()) for f in EXTRACTION_FIELDS if isinstance(obj.get(f), str)}
    key = given["key_phrase"]
    _raise(key_phrase_problem(key, question))
    ptype = _phrase_type(given["phrase_type"], scenario)
    changed = given.get("changed_question", "")
    if is_refusal(changed):
        raise Invalid("refusal", "changed_question is a refusal")
    if (
        scenario.kind != "harmful"
        or not _contains(changed, key)
        or leftover_template_words("changed_question", changed)
    ):
        changed = rephrase.changed_question(scenario.kind, question, key, ptype)
    if not _contains(changed, key):
        raise Invalid("key_phrase_absent", f"key_phrase {key!r} does not occur in changed_question")
    fields = {"changed_question": changed, "key_phrase": key, "phrase_type": ptype}
    fields |= rephrasings(_instruction(given, scenario, changed, key), ptype)
    for leaky in ("rephrased_question", "rephrased_question_sd"):
        if _contains(fields[leaky], key):
            raise Invalid("leak", f"{leaky} leaks the key phrase {key!r}")
    statement = given.get("figstep_statement", "")
    if not statement_ok(statement, key) or leftover_template_words("figstep_statement", statement):
        statement = rephrase.figstep_statement(scenario.kind, key, ptype)
    fields["figstep_statement"] = statement
    fields["figstep_pro_template"] = figstep_pro_template(statement, key)
    return fields
