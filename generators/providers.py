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
