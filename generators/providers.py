"""Choose the LLM provider named in the config."""

from __future__ import annotations

from generators.llm_types import LLMProvider
from generators.offline_provider import OfflineProvider
from schemas.config import LLMConfig


def make_provider(llm: LLMConfig) -> LLMProvider:
    if llm.provider == "offline":
        return OfflineProvider(model=llm.model, seed=llm.seed or 0)
    from generators.openai_provider import OpenAIProvider  # imported lazily: the client is heavy

    return OpenAIProvider(llm)


def make_fallbacks(llm: LLMConfig) -> list[LLMProvider]:
    """The providers of `llm.fallback`, in order: same settings, another endpoint or model."""
    return [
        make_provider(
            llm.model_copy(
                update={
                    "provider": "openai",
                    "base_url": endpoint.base_url,
                    "model": endpoint.model,
                    "api_key_env": endpoint.api_key_env,
                    "structured_output": endpoint.structured_output,
                    "fallback": [],
                }
            )
        )
        for endpoint in llm.fallback
    ]
