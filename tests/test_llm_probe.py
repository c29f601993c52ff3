"""The endpoint probe against loopback servers through the real openai client: what it finds,
how the run's llm settings follow, and that a cached probe asks nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_loopback import LoopbackServer, Reply, bank_responder

from generators.llm_probe import PARALLEL, apply_probe, estimate_concurrency, probe_endpoint
from schemas.config import LLMConfig

KEY_ENV = "SAFETYFORGE_PROBE_TEST_KEY"


@pytest.fixture(autouse=True)
def key() -> Iterator[None]:
    os.environ[KEY_ENV] = "sk-loopback"
    yield
    os.environ.pop(KEY_ENV, None)


def llm(server: LoopbackServer, **overrides: Any) -> LLMConfig:
    settings = {
        "provider": "openai",
        "model": "probe-model",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "timeout_s": 10.0,
        "max_concurrency": 16,
        "max_tokens": 400,
    }
    return LLMConfig.model_validate(settings | overrides)


def llama_like(body: dict[str, Any]) -> Reply:
    """Like llama.cpp's server: json_schema is a server error, seed is refused, and requests are
    answered one at a time (the blocking sleep holds the loopback's only event loop)."""
    if "seed" in body:
        return Reply(status=400, content="unknown parameter: seed", error_code="bad_param")
    if (body.get("response_format") or {}).get("type") == "json_schema":
        return Reply(status=500, content="Internal Server Error")
    time.sleep(1.0)
    return bank_responder()(body)


def test_a_full_featured_endpoint_keeps_every_setting(tmp_path: Path) -> None:
    with LoopbackServer(bank_responder()) as server:
        config = llm(server)
        found = probe_endpoint(config, server.base_url, tmp_path)
    assert found.structured_output == "json_schema"
    assert found.seed and found.max_tokens
    assert (found.concurrency, found.concurrency_at_least) == (PARALLEL, True)
    resolved = apply_probe(config, found)
    assert resolved.structured_output == "json_schema"
    assert (resolved.seed, resolved.max_tokens, resolved.max_concurrency) == (0, 400, 16)


def test_a_llama_cpp_like_endpoint_gets_json_object_with_schema_no_seed_one_at_a_time(
    tmp_path: Path,
) -> None:
    with LoopbackServer(llama_like) as server:
        config = llm(server)
        found = probe_endpoint(config, server.base_url, tmp_path)
        sent = server.request_count()
        bodies = [s.body for s in server.seen()]
    assert found.structured_output == "json_object_schema"
    assert not found.seed and found.max_tokens
    # Answered one at a time: fewer than the batch at once (1 unless the machine is very busy).
    assert not found.concurrency_at_least and found.concurrency < PARALLEL
    assert found.requests == sent
    assert any("json_schema" in note and "HTTP 500" in note for note in found.notes)
    # The JSON-object form that worked carried the schema.
    assert any((b.get("response_format") or {}).get("schema") for b in bodies)
    resolved = apply_probe(config, found)
    assert resolved.structured_output == "json_object_schema"
    assert (resolved.seed, resolved.max_concurrency) == (None, found.concurrency)


def test_an_explicit_structured_output_is_kept(tmp_path: Path) -> None:
    with LoopbackServer(llama_like) as server:
        config = llm(server, structured_output="json_object")
        found = probe_endpoint(config, server.base_url, tmp_path)
    assert apply_probe(config, found).structured_output == "json_object"


def test_the_probe_is_cached_per_endpoint_and_model(tmp_path: Path) -> None:
    with LoopbackServer(bank_responder()) as server:
        first = probe_endpoint(llm(server), server.base_url, tmp_path)
        asked = server.request_count()
        again = probe_endpoint(llm(server), server.base_url, tmp_path)
        assert server.request_count() == asked  # nothing asked the second time
        other = probe_endpoint(llm(server, model="other-model"), server.base_url, tmp_path)
        assert server.request_count() > asked
    assert again == first and other.model == "other-model"


def test_concurrency_estimate_from_one_request_alone_and_the_spread_of_a_batch() -> None:
    assert estimate_concurrency(1.0, 3.0, 4) == (1, False)  # answered one after another
    assert estimate_concurrency(1.0, 1.0, 4) == (2, False)  # two rounds of two
    assert estimate_concurrency(1.0, 0.2, 4) == (4, True)  # all at once: at least 4
    assert estimate_concurrency(0.001, 0.004, 4) == (4, True)  # too fast to tell
