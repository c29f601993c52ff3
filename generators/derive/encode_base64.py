"""`base64`: the key phrase Base64-encoded inside the FigStep statement (MML's encoded title)."""

from __future__ import annotations

import base64
import re

from generators.derive.base import Derivation, DeriveError, Fields, Params, register


def encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def replace_phrase(text: str, phrase: str, replacement: str) -> str:
    """`text` with the first case-insensitive occurrence of `phrase` replaced; DeriveError when
    it does not occur."""
    found = re.search(re.escape(phrase), text, flags=re.IGNORECASE) if phrase.strip() else None
    if found is None:
        raise DeriveError(f"the text does not contain the key phrase {phrase!r}")
    return text[: found.start()] + replacement + text[found.end() :]


def _compute(fields: Fields, params: Params) -> dict[str, str]:
    phrase = fields["key_phrase"]
    coded = encode(phrase)
    return {
        "key_phrase_base64": coded,
        "statement_base64": replace_phrase(fields["figstep_statement"], phrase, coded),
    }


register(
    Derivation(
        name="base64",
        summary="the key phrase Base64-encoded (UTF-8), also in place inside the FigStep statement",
        produces=("key_phrase_base64", "statement_base64"),
        reads=("key_phrase", "figstep_statement"),
        compute=_compute,
    )
)
