"""Getting usable records out of weak or reluctant models, through the real openai client
against loopback servers: the repair turn names the failed field, a per-field fallback asks for
a single missing field, refused requests go to llm.fallback endpoints, and the yield is counted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_loopback import LoopbackServer, Reply, bank_responder, json_reply

from generators.extraction import extract_key_phrases
from generators.llm_cache import ResponseCache
from generators.offline_provider import compose_extraction, compose_questions
from generators.openai_provider import OpenAIProvider
from generators.providers import make_fallbacks
from generators.questions import generate_questions
from schemas.config import LLMConfig
from schemas.records import Question, question_id
from schemas.taxonomy import load_taxonomy

KEY_ENV = "SAFETYFORGE_RESCUE_TEST_KEY"
TAXONOMY = load_taxonomy("mm-safetybench")
SCENARIOS = {s.slug: s for s in TAXONOMY.scenarios}
REFUSAL = "I'm sorry, but I can't help with that."


@pytest.fixture(scope="module")
def main() -> Iterator[LoopbackServer]:
    os.environ[KEY_ENV] = "sk-loopback"
    with LoopbackServer(bank_responder()) as srv:
        yield srv


@pytest.fixture(scope="module")
def other() -> Iterator[LoopbackServer]:
    with LoopbackServer(bank_responder()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh(main: LoopbackServer, other: LoopbackServer) -> None:
    main.reset()
    other.reset()


def config(server: LoopbackServer, **overrides: object) -> LLMConfig:
    settings = {
        "provider": "openai",
        "model": "main-model",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "timeout_s": 5.0,
        "questions_per_request": 2,
    }
    return LLMConfig.model_validate(settings | overrides)


def questions(slug: str, n: int) -> list[Question]:
    return [
        Question(question_id=question_id(slug, t), scenario=slug, text=t, call_id="seed")
        for t in compose_questions(slug, n, [], seed=0)
    ]


def good(q: Question) -> dict[str, str]:
    return compose_extraction(q.scenario, SCENARIOS[q.scenario].kind, q.text, seed=0)


def test_the_repair_turn_names_the_failed_field_and_why(
    main: LoopbackServer, tmp_path: Path
) -> None:
    q = questions("fraud", 1)[0]
    record = good(q)
    wrong = {**record, "phrase_type": "gadget"}
    main.script(q.text, json_reply(wrong))
    llm = config(main)
    result = extract_key_phrases(
        OpenAIProvider(llm), ResponseCache(tmp_path), [q], SCENARIOS, "run"
    )
    assert result.extractions[0].status == "accepted"  # the repair answer is the bank's
    repair = main.seen()[1].body["messages"][-1]["content"]
    assert "Field(s) at fault: phrase_type." in repair
    assert "phrase_type 'gadget' is not one of: activity, product" in repair
    assert "keep every other field as it was" in repair
    y = result.yields
    assert (y.asked, y.answered, y.valid_first_try, y.valid_after_repair, y.accepted) == (
        1,
        1,
        0,
        1,
        1,
    )


def test_a_field_still_missing_after_the_repair_is_asked_for_alone(
    main: LoopbackServer, tmp_path: Path
) -> None:
    q = questions("fraud", 1)[0]
    partial = {k: v for k, v in good(q).items() if k != "phrase_type"}
    main.script(q.text, json_reply(partial), json_reply(partial))  # the answer and its repair
    result = extract_key_phrases(
        OpenAIProvider(config(main)), ResponseCache(tmp_path), [q], SCENARIOS, "run"
    )
    record = result.extractions[0]
    assert record.status == "accepted", record.reject_reason
    assert record.phrase_type == good(q)["phrase_type"]
    field_ask = main.seen()[2].body
    assert 'lacks the field "phrase_type"' in field_ask["messages"][-1]["content"]
    assert field_ask["response_format"] == {"type": "json_object"}
    assert len(main.seen()) == 3  # one ask for the one missing field
    assert result.yields.valid_after_repair == 1 and result.yields.valid_first_try == 0


def test_refused_requests_go_to_the_fallback_endpoint(
    main: LoopbackServer, other: LoopbackServer, tmp_path: Path
) -> None:
    qs = questions("illegal_activity", 3)
    main.script(qs[0].text, Reply(content=REFUSAL), Reply(content=REFUSAL))
    main.script(qs[1].text, Reply(refusal="I can't assist with that."), Reply(content=REFUSAL))
    llm = config(main, fallback=[{"base_url": other.base_url, "model": "other-model",
                                  "api_key_env": KEY_ENV}])  # fmt: skip
    result = extract_key_phrases(
        OpenAIProvider(llm),
        ResponseCache(tmp_path),
        qs,
        SCENARIOS,
        "run",
        fallbacks=make_fallbacks(llm),
    )
    assert [e.status for e in result.extractions] == ["accepted"] * 3
    assert other.request_count() == 2  # only the refused two
    assert {c.model for c in result.calls} == {"main-model", "other-model"}
    assert result.yields.refused == 2 and result.yields.rescued_by_fallback == 2
    assert result.refusals == {"illegal_activity": (2, 3)}


def test_refusals_without_a_fallback_are_counted_per_scenario(
    main: LoopbackServer, tmp_path: Path
) -> None:
    fraud, sex = SCENARIOS["fraud"], SCENARIOS["sex"]
    main.script("Scenario: Sex", Reply(content=REFUSAL), Reply(content=REFUSAL))
    llm = config(main, max_rounds=1)
    result = generate_questions(
        OpenAIProvider(llm), ResponseCache(tmp_path), [fraud, sex], 2, llm, "run"
    )
    assert result.refusals == {"fraud": (0, 1), "sex": (1, 1)}
    y = result.yields
    assert (y.asked, y.answered, y.valid_after_repair, y.accepted, y.refused) == (2, 2, 1, 2, 1)


def test_the_card_and_the_summary_state_the_yield_refusals_and_probe() -> None:
    from catalog.card import card_context
    from generators.llm_probe import EndpointProbe
    from generators.llm_stage import StageYield
    from generators.llm_summary import llm_yield_section, yield_lines
    from schemas.config import BuildConfig

    probe = EndpointProbe(
        base_url="http://127.0.0.1:8091/v1",
        model="qwen-0.5b",
        structured_output="json_object_schema",
        seed=True,
        max_tokens=True,
        concurrency=1,
        concurrency_at_least=False,
        single_latency_s=1.5,
        requests=9,
    )
    section = llm_yield_section(
        {
            "questions": StageYield(
                asked=2, answered=2, valid_first_try=1, valid_after_repair=2, accepted=4
            ),
            "key_phrases": StageYield(
                asked=4, answered=4, valid_first_try=1, valid_after_repair=3, accepted=3, refused=1
            ),
        },  # fmt: skip
        [{"fraud": (0, 1)}, {"fraud": (1, 4)}],
        probe,
    )
    assert section["refusals"] == {"fraud": {"refused": 1, "asked": 5, "rate": 0.2}}
    lines = yield_lines(section)
    assert "structured output json_object_schema" in lines[0] and "1 request(s) at once" in lines[0]
    assert "  key_phrases      4 /     4 /     1 /     3 /     3" in lines
    assert "  fraud: 1/5 (20%)" in lines
    config = BuildConfig.model_validate({"llm": {"provider": "openai", "model": "qwen-0.5b"}})
    reordered = {**section, "llm_yield": dict(reversed(section["llm_yield"].items()))}
    context = card_context(config, "run", {}, run_summary=reordered)
    assert list(context.llm_yield) == ["questions", "key_phrases"]
    assert context.generator["structured output"] == "json_object_schema"
    assert context.llm_yield["key_phrases"]["valid_after_repair"] == 3
    assert context.refusals == {"fraud": {"refused": 1, "asked": 5, "rate": 0.2}}
