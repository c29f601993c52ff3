"""Derivations: text fields a variant needs beyond the key-phrase record (one module each).

Pure ones (`base64`, `wordswap`) compute; LLM ones (`subquestions`, `harmless_split`,
`translate`) ask validated, cached requests whose templates are `schemas/prompts/derive.*.yaml`.
A variant spec names the ones it needs in `derive: [...]`.
"""

from generators.derive import encode_base64, harmless_split, subquestions, translate, wordswap
from generators.derive.base import DERIVATIONS, Derivation, DeriveError, LlmTurn
from generators.derive.run import DeriveJob, DeriveOutcome, derivation_params, run_derivations

__all__ = [
    "DERIVATIONS",
    "DeriveError",
    "DeriveJob",
    "DeriveOutcome",
    "Derivation",
    "LlmTurn",
    "derivation_params",
    "encode_base64",
    "harmless_split",
    "run_derivations",
    "subquestions",
    "translate",
    "wordswap",
]
