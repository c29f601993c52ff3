"""The build against a real OpenAI-compatible server: llama-cpp-python serving Qwen2.5-Coder-0.5B
(`safetyforge llm serve`), installed and assembled once per machine (`make llm-server-install`).

A handful of requests on 2 cores: a couple of minutes. Marked `real_llm` (`pytest -m real_llm`
runs only these, `-m "not real_llm"` skips them); `make test` and CI run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generators.extraction import extract_key_phrases
from generators.llm_cache import ResponseCache
from generators.llm_probe import PARALLEL, probe_endpoint
from generators.llm_types import LLMFatalError
from generators.offline_provider import compose_questions
from generators.openai_provider import OpenAIProvider
from llmserver import MODELS, ServerState, ensure_installed, ensure_model, start, stop
from llmserver.server import API_KEY_ENV, free_port
from schemas.config import LLMConfig, load_config
from schemas.records import Question, question_id
from schemas.taxonomy import load_taxonomy

pytestmark = pytest.mark.real_llm
MODEL = "qwen-0.5b"


@pytest.fixture(scope="module")
def gguf() -> Path:
    ensure_installed()
    return ensure_model(MODELS[MODEL])


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerState]:
    os.environ[API_KEY_ENV] = "local"
    state = start(gguf, MODEL, log_dir=tmp_path_factory.mktemp("llm-server"))
    yield state
    stop(state)


def settings(state: ServerState) -> list[str]:
    return [
        "llm.provider=openai",
        f"llm.base_url={state.url}",
        f"llm.model={state.model}",
        f"llm.api_key_env={API_KEY_ENV}",
        "llm.temperature=0.7",
        "llm.timeout_s=300",
        "llm.max_tokens=400",
        "llm.max_retries=1",
    ]


def test_the_probe_finds_json_object_with_schema_and_one_request_at_a_time(
    server: ServerState, tmp_path: Path
) -> None:
    llm = load_config(None, settings(server)).llm
    found = probe_endpoint(llm, server.url, tmp_path)
    assert found.structured_output == "json_object_schema"
    assert found.max_tokens and found.seed
    # llama-cpp-python's server answers one request at a time.
    assert not found.concurrency_at_least and found.concurrency < PARALLEL


def test_a_small_build_accepts_samples_and_a_rerun_asks_nothing(
    prefect_api: None, server: ServerState, tmp_path: Path
) -> None:
    from flows.build import build_benchmark

    cfg = load_config(
        None,
        [
            *settings(server),
            f"artifacts_dir={tmp_path}",
            "scenarios=[illegal_activity, fraud]",
            "questions_per_scenario=2",
            "llm.questions_per_request=2",
            "llm.max_rounds=2",
            "variants=[text_only, typo]",
            "review.ocr_check=false",
            "release.name=real-llm-bench",
            "release.allow_empty_scenarios=true",
        ],
    )
    first: dict[str, Any] = build_benchmark(config=cfg.model_dump(mode="json"))
    assert first["samples_accepted"] >= 1, first["rejections"]
    assert first["llm_probe"]["structured_output"] == "json_object_schema"
    assert first["llm_yield"]["key_phrases"]["asked"] >= 1
    second: dict[str, Any] = build_benchmark(config=cfg.model_dump(mode="json"))
    assert second["llm_requests"] == 0
    assert second["samples_accepted"] == first["samples_accepted"]


def test_a_server_killed_mid_run_is_a_clear_error_and_the_run_resumes(
    gguf: Path, tmp_path: Path
) -> None:
    os.environ[API_KEY_ENV] = "local"
    port = free_port()
    state = start(gguf, MODEL, port, log_dir=tmp_path)
    llm = LLMConfig.model_validate(
        {
            "provider": "openai",
            "base_url": state.url,
            "model": MODEL,
            "api_key_env": API_KEY_ENV,
            "max_concurrency": 1,
            "max_retries": 1,
            "timeout_s": 300,
            "max_tokens": 400,
            "structured_output": "json_object_schema",
        }
    )
    taxonomy = load_taxonomy("mm-safetybench")
    scenarios = {s.slug: s for s in taxonomy.scenarios}
    qs = [
        Question(question_id=question_id("fraud", t), scenario="fraud", text=t, call_id="seed")
        for t in compose_questions("fraud", 3, [], seed=0)
    ]
    cache = ResponseCache(tmp_path / "cache")
    answered: list[int] = []

    def kill_after_first(n: int) -> None:
        answered.append(n)
        if sum(answered) == 1:
            stop(state)

    try:
        with pytest.raises(LLMFatalError, match="stopped answering"):
            extract_key_phrases(
                OpenAIProvider(llm), cache, qs, scenarios, "killed", progress=kill_after_first
            )
    finally:
        stop(state)
    kept = len(list((tmp_path / "cache").rglob("*.json")))
    assert kept >= 1
    again = start(gguf, MODEL, port, log_dir=tmp_path)
    try:
        resumed = extract_key_phrases(OpenAIProvider(llm), cache, qs, scenarios, "resumed")
    finally:
        stop(again)
    assert len(resumed.extractions) == len(qs)
    assert sum(c.cached for c in resumed.calls) >= kept  # what was answered is not asked again
