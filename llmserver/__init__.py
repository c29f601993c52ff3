"""A local OpenAI-compatible LLM server (llama-cpp-python) with small GGUF models from PyPI."""

from llmserver.models import MODELS, ModelSpec, ensure_model
from llmserver.server import (
    LLMServerError,
    ServerState,
    ensure_installed,
    forget,
    running,
    save_state,
    start,
    stop,
)

__all__ = [
    "MODELS",
    "LLMServerError",
    "ModelSpec",
    "ServerState",
    "ensure_installed",
    "ensure_model",
    "forget",
    "running",
    "save_state",
    "start",
    "stop",
]
