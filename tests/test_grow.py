"""A growing benchmark (config `grow`, release.version auto): each run keeps the earlier
questions with their ids and content, asks for new ones, and publishes the next version only
when the content changed; a run with nothing to add says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog import Catalog
from generators.llm_cache import ResponseCache
from generators.offline_provider import OfflineProvider
from generators.questions import EarlierQuestions, generate_questions
from schemas.config import LLMConfig, load_config
from schemas.records import Extraction, Question
from schemas.taxonomy import load_taxonomy

SCENARIOS = [load_taxonomy("mm-safetybench").scenario(s) for s in ("fraud", "legal_opinion")]


def _accepted(questions: list[Question]) -> list[Question]:
    return [q for q in questions if q.status == "accepted"]


def test_growth_keeps_earlier_questions_and_asks_new_ones(tmp_path: Path) -> None:
    provider = OfflineProvider(model="offline", seed=0)
    cache = ResponseCache(tmp_path / "cache")
    llm = LLMConfig()
    first = generate_questions(provider, cache, SCENARIOS, 2, llm, "run-1")
    earlier = EarlierQuestions(
        questions=_accepted(first.questions), next_round=first.next_round, requests=first.requests
    )
    grown = generate_questions(provider, cache, SCENARIOS, 3, llm, "run-2", earlier=earlier)
    new = _accepted(grown.questions)
    assert sorted(q.scenario for q in new) == ["fraud"] * 3 + ["legal_opinion"] * 3
    old_texts = {q.text for q in earlier.questions}
    assert not old_texts & {q.text for q in new}
    # New rounds and request numbers continue the earlier ones: new asks, not cache hits.
    assert first.next_round == 1 and {q.round for q in new} == {1}
    assert grown.next_round == 2
    assert grown.requests == {"fraud": 2, "legal_opinion": 2}
    assert not any(c.cached for c in grown.calls)
    # Every new request lists the earlier questions as existing ones.
    prompt = json.dumps(grown.calls[0].request["messages"])
    assert all(q.text in prompt for q in earlier.questions if q.scenario == "fraud")
    again = generate_questions(provider, cache, SCENARIOS, 3, llm, "run-2b", earlier=earlier)
    assert [q.text for q in again.questions] == [q.text for q in grown.questions]
    assert all(c.cached for c in again.calls)


@pytest.fixture(scope="module")
def line(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three runs of one growing benchmark: the initial set, a growth, a run adding nothing."""
    from flows.build import build_benchmark

    artifacts = tmp_path_factory.mktemp("grow")
    base = [
        f"artifacts_dir={artifacts}",
        "scenarios=[fraud, legal_opinion]",
        "questions_per_scenario=2",
        "variants=[text_only, typo, figstep_pro]",
        "release.name=grown",
        "release.version=auto",
        "render.workers=1",
    ]

    def run(per_scenario: int, run_id: str) -> dict[str, Any]:
        cfg = load_config(None, [*base, f"grow.per_scenario={per_scenario}"])
        return build_benchmark(config=cfg.model_dump(mode="json"), run_id=run_id)

    runs = [run(1, "grow-1"), run(1, "grow-2"), run(0, "grow-3")]
    return {"artifacts": artifacts, "runs": runs}


def test_first_run_builds_the_initial_set_as_the_first_version(line: dict[str, Any]) -> None:
    first = line["runs"][0]
    assert (first["questions_new"], first["questions_kept"], first["previous_run"]) == (4, 0, None)
    assert (first["release_status"], first["release_version"]) == ("published", "0.1.0")
    assert first["release_previous"] is None


def test_growth_keeps_ids_and_content_and_publishes_a_minor_version(
    line: dict[str, Any],
) -> None:
    grown = line["runs"][1]
    assert (grown["questions_kept"], grown["questions_new"]) == (4, 2)
    assert grown["previous_run"] == "grow-1"
    assert (grown["release_version"], grown["release_previous"]) == ("0.2.0", "0.1.0")
    assert {
        (c["variant"], c["added"], c["removed"], c["changed"]) for c in grown["release_changes"]
    } == {
        (c, 1, 0, 0)
        for v in ("text_only", "typo", "figstep_pro")
        for c in (v, f"contrast/{v}")  # the new questions' benign twins
    }
    # Two question requests + two new key phrases + the leakage judge on their 2 x 3 samples.
    assert grown["llm_requests"] == 4 + 6
    with Catalog(line["artifacts"] / "catalog.duckdb", read_only=True) as catalog:
        before = {
            e.question_id: e for e in catalog.run_records("extractions", "grow-1", Extraction)
        }
        after = {e.question_id: e for e in catalog.run_records("extractions", "grow-2", Extraction)}
        v1 = set(catalog.release("grown", "0.1.0").sample_ids)
        v2 = set(catalog.release("grown", "0.2.0").sample_ids)
    assert set(before) < set(after) and len(after) == 6
    assert all(after[qid] == record for qid, record in before.items())
    assert v1 < v2 and len(v2 - v1) == 12  # 2 questions and their twins x 3 variants
    card = (line["artifacts"] / "releases/grown/0.2.0/README.md").read_text()
    assert "## Changelog" in card and "Against `0.1.0`" in card


def test_a_run_with_nothing_to_add_says_so_and_publishes_nothing(line: dict[str, Any]) -> None:
    idle = line["runs"][2]
    assert idle["nothing_new"] is True
    assert (idle["release_status"], idle["release_version"]) == ("unchanged", "0.2.0")
    assert idle["llm_requests"] == 0 and idle["images_drawn"] == 0
    assert sorted(p.name for p in (line["artifacts"] / "releases/grown").iterdir()) == [
        "0.1.0",
        "0.2.0",
    ]
