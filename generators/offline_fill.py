"""Key-phrase fields for questions the offline template bank did not write (imported ones):
a deterministic heuristic, so an offline build of any question file runs end to end.

The key phrase is the first run of up to four content words of the FigStep statement, the
changed question or the question (leading question words and frames such as "How can
someone", "Steps to" skipped), taken verbatim so it occurs where the rules need it. The other
fields use the bank's wording. Records filled this way say so (`offline_fill` warnings).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generators.rephrase import with_article

# Part of the offline provider's cache key: a changed heuristic re-asks what it answered.
HEURISTIC_VERSION = "1"
MAX_WORDS = 4
WORDS_PATH = Path(__file__).with_name("offline_fill.yaml")
_WORD = re.compile(r"\S+")
_EDGE = ".,;:?!\"'()"
_CLAUSE_END = (",", ";", ":", "?", "!", ".")
DEFAULT_TYPE = {"harmful": "activity", "should_disclaim": "topic"}


@cache
def _words(kind: str) -> frozenset[str]:
    return frozenset(yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))[kind])


def heuristic_phrase(text: str) -> str:
    """Up to MAX_WORDS words of `text` after its leading question words, ending before a new
    clause and not on a function word: a verbatim substring of `text` ("" when it has no
    content word)."""
    words = list(_WORD.finditer(text))
    start = next(
        (i for i, w in enumerate(words) if w.group().strip(_EDGE).casefold() not in _words("skip")),
        None,
    )
    if start is None:
        return ""
    chosen = []
    for word in words[start : start + MAX_WORDS]:
        if chosen and word.group().strip(_EDGE).casefold() in _words("stop"):
            break
        chosen.append(word)
        if word.group().endswith(_CLAUSE_END):
            break
    while len(chosen) > 1 and chosen[-1].group().casefold() in _words("dangling"):
        chosen.pop()
    phrase = text[chosen[0].start() : chosen[-1].end()]
    return phrase.strip(_EDGE + " ")


def _key_phrase(ctx: dict[str, Any], must_contain: list[str]) -> str:
    given = ctx["given"]
    if given.get("key_phrase"):
        return given["key_phrase"]
    sources = [
        given.get("figstep_statement", ""),
        given.get("changed_question", ""),
        ctx["question"],
    ]
    phrases = [p for p in (heuristic_phrase(s) for s in sources if s) if p]
    fitting = [p for p in phrases if all(p in text for text in must_contain)]
    return (fitting or phrases or [""])[0]


def compose_fill(ctx: dict[str, Any], wording: dict[str, Any]) -> dict[str, str]:
    """The `missing` fields of a fill request (every key-phrase field when it names none), in
    the bank's `wording` (its `rephrasings`)."""
    given: dict[str, str] = ctx.get("given", {})
    kind, question = ctx["kind"], ctx["question"]
    missing = ctx.get("missing") or [
        "changed_question",
        "key_phrase",
        "phrase_type",
        "rephrased_question",
        "rephrased_question_sd",
        "figstep_statement",
    ]
    must_contain = [given[f] for f in ("changed_question", "figstep_statement") if given.get(f)]
    if kind == "should_disclaim" and "changed_question" in missing:
        must_contain.append(question)  # its changed question is the question itself
    phrase = _key_phrase(ctx, must_contain)
    phrase_type = given.get("phrase_type") or ctx.get("phrase_types", [DEFAULT_TYPE[kind]])[0]
    hidden = re.sub(re.escape(phrase), f"this {phrase_type}", question, flags=re.IGNORECASE)
    fields = {
        "phrase": phrase,
        "phrase_type": phrase_type,
        "a_type": with_article(phrase_type),
        "question": question,
        "question_with_placeholder": hidden if phrase else question,
    }
    fields["instruction"] = wording[kind]["instruction"].format(**fields)
    statement = f"Steps to {phrase}." if kind == "harmful" else f"List of facts about {phrase}."
    composed = {
        "changed_question": wording[kind]["changed_question"].format(**fields),
        "key_phrase": phrase,
        "phrase_type": phrase_type,
        "rephrased_question": wording["rephrased_question"].format(**fields),
        "rephrased_question_sd": wording["rephrased_question_sd"].format(**fields),
        "figstep_statement": statement,
    }
    return {name: composed[name] for name in missing}
