"""`translate`: the LLM translates the key phrase, the FigStep statement and the rephrased
question into the variant's `language`; a second turn translates them back to English, and the
translation is kept only if every back-translation shares at least `min_back_similarity` of the
original's words (a gate against a wrong or refused translation)."""

from __future__ import annotations

import re
from typing import Any

from generators.derive.base import (
    Derivation,
    DeriveError,
    Fields,
    LlmTurn,
    Params,
    derive_request,
    register,
    string_schema,
    strings,
)
from generators.llm_types import ChatRequest

SOURCES = ("key_phrase", "figstep_statement", "rephrased_question")
SCHEMA = string_schema(*SOURCES)
# Names given to the LLM (and the prompt) for common codes; other codes are passed as they are.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "el": "Greek",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "ru": "Russian",
    "sw": "Swahili",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Simplified Chinese",
}
_WORD = re.compile(r"[^\W_]+")


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def similarity(back: str, original: str) -> float:
    """Share of the original's distinct words (case-folded) found in the back-translation."""
    want = {w.casefold() for w in _WORD.findall(original)}
    got = {w.casefold() for w in _WORD.findall(back)}
    return len(want & got) / len(want) if want else 1.0


def _forward(fields: Fields, params: Params, answers: dict[str, Any]) -> ChatRequest:
    return derive_request(
        "translate",
        "main",
        fields["scenario"],
        SCHEMA,
        language=params["language"],
        language_name=language_name(params["language"]),
        texts={name: fields[name] for name in SOURCES},
    )


def _backward(fields: Fields, params: Params, answers: dict[str, Any]) -> ChatRequest:
    return derive_request(
        "translate",
        "back",
        fields["scenario"],
        SCHEMA,
        language=params["language"],
        language_name=language_name(params["language"]),
        texts={name: answers[f"{name}_translated"] for name in SOURCES},
    )


def _translated(obj: dict[str, Any], fields: Fields, params: Params, answers: dict[str, Any]):
    return {f"{name}_translated": text for name, text in strings(obj, SOURCES).items()}


def _back(obj: dict[str, Any], fields: Fields, params: Params, answers: dict[str, Any]):
    return {f"{name}_back": text for name, text in strings(obj, SOURCES).items()}


def _finish(fields: Fields, params: Params, answers: dict[str, Any]) -> dict[str, str]:
    scores = {name: similarity(answers[f"{name}_back"], fields[name]) for name in SOURCES}
    low = {name: round(score, 2) for name, score in scores.items()}
    worst = min(scores.values())
    if worst < params["min_back_similarity"]:
        raise DeriveError(
            f"back-translation from {language_name(params['language'])} shares too few words "
            f"with the original (word overlap {low}, minimum {params['min_back_similarity']})"
        )
    return {
        **{f"{name}_translated": answers[f"{name}_translated"] for name in SOURCES},
        "language": params["language"],
        "language_name": language_name(params["language"]),
        "back_translation_similarity": f"{worst:.2f}",
    }


register(
    Derivation(
        name="translate",
        summary="the LLM translates key phrase, FigStep statement and rephrased question; a back-translation gates it",
        produces=(
            *(f"{name}_translated" for name in SOURCES),
            "language",
            "language_name",
            "back_translation_similarity",
        ),
        reads=SOURCES,
        params={"language": None, "min_back_similarity": 0.5},
        turns=(LlmTurn("main", _forward, _translated), LlmTurn("back", _backward, _back)),
        finish=_finish,
    )
)
