"""Question generation: batched requests per scenario, deduplicated, until each target is met."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from generators.dedup import Deduplicator
from generators.grounding import question_problem
from generators.llm_cache import ResponseCache
from generators.llm_stage import (
    Progress,
    StageYield,
    ask_validated,
    count_yield,
    refusal_counts,
)
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import is_refusal, parse_json_object, validate_questions
from schemas.config import LLMConfig
from schemas.prompts import render_prompt
from schemas.records import LLMCall, Question, Scenario, question_id

QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
    "required": ["questions"],
    "additionalProperties": False,
}
# Prompts list at most this many existing questions to avoid; more only lengthens the prompt.
MAX_AVOID = 50


@dataclass(frozen=True)
class EarlierQuestions:
    """What a growing benchmark already holds (its earlier runs): those questions are kept, not
    asked again; they are listed as existing in every new request and block their duplicates.
    New requests continue the earlier rounds and request numbers, so a prompt that happens to
    repeat an earlier one is a new ask, not a cache hit returning the same questions."""

    questions: Sequence[Question] = ()
    next_round: int = 0
    requests: Mapping[str, int] = field(default_factory=dict)  # scenario -> requests so far


@dataclass
class QuestionsResult:
    questions: list[Question] = field(default_factory=list)  # accepted and rejected
    calls: list[LLMCall] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (scenario, reason)
    shortfall: dict[str, int] = field(default_factory=dict)  # scenario -> questions missing
    # Where the next growth continues (EarlierQuestions.next_round and .requests).
    next_round: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    yields: StageYield = field(default_factory=StageYield)
    refusals: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # scenario -> (refused, asked)


def _request(
    scenario: Scenario, n: int, avoid: list[str], round_no: int, sample: int
) -> ChatRequest:
    rendered = render_prompt("questions", scenario, n=n, avoid=avoid[-MAX_AVOID:])
    return ChatRequest(
        stage="questions",
        scenario=scenario.slug,
        messages=rendered.messages,
        response_schema=QUESTIONS_SCHEMA,
        sample=sample,
        context={
            "scenario": scenario.slug,
            "kind": scenario.kind,
            "n": n,
            "avoid": avoid,
            "round": round_no,
        },
        prompt=rendered.provenance,
    )


def _validate(_: ChatRequest, result: ChatResult) -> list[str]:
    return validate_questions(parse_json_object(result.text, result.finish_reason))


def generate_questions(
    provider: LLMProvider,
    cache: ResponseCache,
    scenarios: list[Scenario],
    target: int,
    llm: LLMConfig,
    run_id: str,
    progress: Progress | None = None,
    earlier: EarlierQuestions | None = None,
    fallbacks: Sequence[LLMProvider] = (),
) -> QuestionsResult:
    """Ask in rounds until every scenario has `target` new distinct questions or rounds run out.

    Items that are no usable question (generators/grounding.py: placeholders, statements, wrong
    length or language), duplicates (exact or near, within and across scenarios, and of
    `earlier` questions) and surplus questions are kept as rejected records with the reason, never dropped silently.
    """
    earlier = earlier or EarlierQuestions()
    out = QuestionsResult()
    dedup = Deduplicator(llm.near_duplicate_threshold)
    kept: dict[str, list[str]] = {s.slug: [] for s in scenarios}
    for question in earlier.questions:
        dedup.add(question.text, question.question_id)
        kept.setdefault(question.scenario, []).append(question.text)
    accepted: dict[str, list[str]] = {s.slug: [] for s in scenarios}
    # What each scenario's answers repeated: listed as "already exist" in its next requests.
    repeated: dict[str, list[str]] = {s.slug: [] for s in scenarios}
    # Requests asked per scenario so far. Each new request gets the next sample number, so a
    # round that repeats an earlier prompt still differs from it (else the cache would hand back
    # the same duplicates every round).
    asked: dict[str, int] = {s.slug: earlier.requests.get(s.slug, 0) for s in scenarios}
    out.next_round = earlier.next_round
    for round_no in range(earlier.next_round, earlier.next_round + llm.max_rounds):
        requests: list[ChatRequest] = []
        for scenario in scenarios:
            needed = target - len(accepted[scenario.slug])
            avoid = kept[scenario.slug] + accepted[scenario.slug] + repeated[scenario.slug]
            while needed > 0:
                n = min(needed, llm.questions_per_request)
                requests.append(_request(scenario, n, avoid, round_no, asked[scenario.slug]))
                needed -= n
                asked[scenario.slug] += 1
        if not requests:
            break
        out.next_round = round_no + 1
        outcomes = ask_validated(
            provider,
            cache,
            requests,
            _validate,
            run_id,
            progress,
            fields=("questions",),
            fallbacks=fallbacks,
        )
        accepted_before = sum(len(v) for v in accepted.values())
        for outcome in outcomes:
            out.calls.extend(outcome.calls)
            slug = outcome.request.scenario
            call = outcome.calls[-1].call_id
            if outcome.value is None:
                out.failures.append((slug, outcome.reason or "unknown"))
                continue
            for text in outcome.value:
                qid = question_id(slug, text)
                duplicate_of = dedup.check(text)
                problem = question_problem(text)
                if is_refusal(text):
                    reason = "refusal: the item is a refusal, not a question"
                elif duplicate_of is not None:
                    reason = f"duplicate of {duplicate_of}"
                elif problem is not None:
                    reason = problem
                elif len(accepted[slug]) >= target:
                    reason = "surplus: scenario already has its target"
                else:
                    reason = None
                out.questions.append(
                    Question(
                        question_id=qid,
                        scenario=slug,
                        text=text,
                        status="rejected" if reason else "accepted",
                        reject_reason=reason,
                        call_id=call,
                        round=round_no,
                    )
                )
                if reason is None:
                    dedup.add(text, qid)
                    accepted[slug].append(text)
                elif duplicate_of is not None and text not in repeated[slug]:
                    repeated[slug].append(text)
        added = sum(len(v) for v in accepted.values()) - accepted_before
        out.yields = out.yields.add(count_yield(outcomes, added))
        for slug, (refused, n) in refusal_counts(outcomes).items():
            before = out.refusals.get(slug, (0, 0))
            out.refusals[slug] = (before[0] + refused, before[1] + n)
    out.shortfall = {s: target - len(q) for s, q in accepted.items() if len(q) < target}
    out.requests = asked
    return out
