"""Schema checks on LLM answers. Each check returns the parsed value or a reason string."""

from __future__ import annotations

import json
import re
from typing import Any

from schemas.records import Scenario

STATEMENT_PREFIXES = ("Steps to", "Methods to", "List of")
EXTRACTION_FIELDS = (
    "changed_question",
    "key_phrase",
    "phrase_type",
    "rephrased_question",
    "rephrased_question_sd",
    "figstep_statement",
)
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


def validate_extraction(obj: dict[str, Any], scenario: Scenario, question: str) -> dict[str, str]:
    missing = [
        f for f in EXTRACTION_FIELDS if not isinstance(obj.get(f), str) or not obj[f].strip()
    ]
    if missing:
        raise Invalid("missing_fields", "missing or empty fields: " + ", ".join(missing))
    fields = {f: " ".join(obj[f].split()) for f in EXTRACTION_FIELDS}
    key = fields["key_phrase"]
    if _REFUSAL.search(fields["changed_question"]):
        raise Invalid("refusal", "changed_question is a refusal")
    if not _contains(fields["changed_question"], key):
        raise Invalid("key_phrase_absent", f"key_phrase {key!r} does not occur in changed_question")
    for leaky in ("rephrased_question", "rephrased_question_sd"):
        if _contains(fields[leaky], key):
            raise Invalid("leak", f"{leaky} leaks the key phrase {key!r}")
    if scenario.kind == "harmful" and fields["phrase_type"] not in scenario.phrase_types:
        allowed = ", ".join(scenario.phrase_types)
        raise Invalid(
            "phrase_type", f"phrase_type {fields['phrase_type']!r} is not one of: {allowed}"
        )
    statement = fields["figstep_statement"]
    if not statement.startswith(STATEMENT_PREFIXES) or not statement.endswith("."):
        raise Invalid(
            "statement_prefix",
            'figstep_statement must start with "Steps to", "Methods to" or "List of" and end with "."',
        )
    if not _contains(statement, key):
        raise Invalid(
            "statement_key_phrase", f"figstep_statement does not contain the key phrase {key!r}"
        )
    fields["figstep_pro_template"] = figstep_pro_template(statement, key)
    return fields
