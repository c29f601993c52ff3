"""Ask the LLM for the fields an imported record lacks and the chosen variants need.

One request per record that lacks any, naming the file's fields as fixed and asking only for
the missing ones. An answer is checked with the import rules (`checks.py`): a broken rule that
involves a filled field is sent back once for repair. If the answer stays unusable the record
is still kept, with the fields it got and a `fill_failed` warning: variants that need a field
it lacks are then rejected in review, the others (text_only, FigStep from a given statement)
are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from generators.importers.base import RECORD_FIELDS
from generators.importers.checks import broken_rules
from generators.llm_cache import ResponseCache
from generators.llm_stage import Progress, ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import Invalid, is_refusal, parse_json_object
from schemas.prompts import render_prompt
from schemas.records import Extraction, LLMCall, Scenario

# Fields the LLM is asked for (the FigStep-Pro template is derived from statement and phrase).
ASKABLE = tuple(f for f in RECORD_FIELDS if f != "figstep_pro_template")
# Asking for these implies asking for the phrase type they name (when the record lacks it).
NAMES_PHRASE_TYPE = ("rephrased_question", "rephrased_question_sd")


def needed_fields(variant_fields: Iterable[str]) -> set[str]:
    """The key-phrase record fields among those the chosen variants consume."""
    return set(variant_fields) & set(RECORD_FIELDS)


def missing_fields(extraction: Extraction, needed: set[str]) -> list[str]:
    """The fields to ask for: those `needed` that the record has no value for (a missing
    FigStep-Pro template is derived from the statement and key phrase: those are asked for),
    in a fixed order."""
    lacking = {f for f in needed if not getattr(extraction, f)}
    if "figstep_pro_template" in lacking:
        lacking |= {f for f in ("figstep_statement", "key_phrase") if not getattr(extraction, f)}
    if lacking & set(NAMES_PHRASE_TYPE) and not extraction.phrase_type:
        lacking.add("phrase_type")
    return [f for f in ASKABLE if f in lacking]


@dataclass
class FillResult:
    extractions: list[Extraction] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)


def _given(extraction: Extraction) -> dict[str, str]:
    return {f: getattr(extraction, f) for f in RECORD_FIELDS if getattr(extraction, f)}


def _request(extraction: Extraction, scenario: Scenario, missing: list[str]) -> ChatRequest:
    given = _given(extraction)
    key_phrase_in = [
        f'"{f}"' for f in ("changed_question", "figstep_statement") if f in given or f in missing
    ] or ["the question"]
    rendered = render_prompt(
        "fill",
        scenario,
        question=extraction.question,
        given=given,
        missing=missing,
        key_phrase_in=key_phrase_in,
    )
    return ChatRequest(
        stage="fill",
        scenario=scenario.slug,
        messages=rendered.messages,
        response_schema={
            "type": "object",
            "properties": {name: {"type": "string"} for name in missing},
            "required": missing,
            "additionalProperties": False,
        },
        context={
            "scenario": scenario.slug,
            "kind": scenario.kind,
            "phrase_types": scenario.phrase_types,
            "question": extraction.question,
            "given": given,
            "missing": missing,
        },
        prompt=rendered.provenance,
    )


def validate_fill(
    obj: dict[str, object],
    given: dict[str, str],
    missing: Sequence[str],
    scenario: Scenario,
    question: str,
) -> dict[str, str]:
    """The filled fields, whitespace-normalised, or Invalid naming what to fix (a filled key
    phrase must come from the question, as a generated one must)."""
    lacking = [f for f in missing if not isinstance(obj.get(f), str) or not str(obj[f]).strip()]
    if lacking:
        raise Invalid("missing_fields", "missing or empty fields: " + ", ".join(lacking))
    filled = {f: " ".join(str(obj[f]).split()) for f in missing}
    if "changed_question" in filled and is_refusal(filled["changed_question"]):
        raise Invalid("refusal", "changed_question is a refusal")
    for rule, detail in broken_rules({**given, **filled, "question": question}, scenario):
        if set(rule.fields) & set(missing):
            raise Invalid(rule.code, detail)
    return filled


def with_template(extraction: Extraction) -> Extraction:
    """The record with its FigStep-Pro template derived where it has none and can have one."""
    statement, key = extraction.figstep_statement, extraction.key_phrase
    if extraction.figstep_pro_template or not key or key not in statement:
        return extraction
    return extraction.model_copy(update={"figstep_pro_template": statement.replace(key, "*", 1)})


def fill_missing(
    provider: LLMProvider,
    cache: ResponseCache,
    extractions: Sequence[Extraction],
    scenarios: dict[str, Scenario],
    needed: set[str],
    run_id: str,
    progress: Progress | None = None,
) -> FillResult:
    """Every record, with the fields it lacked filled in where the LLM gave usable ones."""
    todo = [(i, e, missing_fields(e, needed)) for i, e in enumerate(extractions)]
    todo = [(i, e, m) for i, e, m in todo if m]
    requests = [_request(e, scenarios[e.scenario], m) for _, e, m in todo]

    def validate(request: ChatRequest, result: ChatResult) -> dict[str, str]:
        obj = parse_json_object(result.text, result.finish_reason)
        ctx = request.context
        scenario = scenarios[request.scenario]
        return validate_fill(obj, ctx["given"], ctx["missing"], scenario, ctx["question"])

    out = FillResult(extractions=list(extractions))
    outcomes = ask_validated(provider, cache, requests, validate, run_id, progress)
    for (index, extraction, missing), outcome in zip(todo, outcomes, strict=True):
        out.calls.extend(outcome.calls)
        # raw_text stays the source's own (GPT-Pred); the fill answer is in the linked call.
        update: dict[str, object] = {"call_id": outcome.calls[-1].call_id}
        if outcome.value is None:
            update["warnings"] = [*extraction.warnings, f"fill_failed: {outcome.reason}"]
        else:
            update |= outcome.value
            if provider.offline:
                update["warnings"] = [
                    *extraction.warnings,
                    f"offline_fill: {', '.join(missing)} composed by the offline provider's "
                    "heuristic, not a model",
                ]
        out.extractions[index] = extraction.model_copy(update=update)
    out.extractions = [with_template(e) for e in out.extractions]
    return out
