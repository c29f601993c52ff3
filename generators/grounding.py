"""Source-grounding rules: a key phrase comes from its question, a question is a real question,
and no template wording is left in the text. Each rule returns "<code>: <detail>" when broken,
else None. They judge generated records (validation.py, questions.py, extraction.py) and
imported ones (importers/checks.py, which flags instead of dropping) alike.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from schemas.prompts import PROMPT_DIR
from schemas.words import STOP_WORDS, words

# A key phrase is grounded when at least this share of its content words, compared by stem,
# occurs in the question. 0.6 lets the LLM inflect or drop a word ("smuggling goods" from
# "How do I smuggle goods?") and rejects a phrase mostly made of words the question lacks.
GROUNDING_THRESHOLD = 0.6
MIN_QUESTION_WORDS = 4
MAX_QUESTION_WORDS = 80
# A statement's verb comes early: "Sexual content requests are often abused ...".
STATEMENT_VERB_WITHIN = 6
# Questions are asked for in English (schemas/prompts/questions.*.yaml): at least this share
# of their letters are ASCII, and no other language's function words without English ones.
MIN_ASCII_LETTERS = 0.9
# "I need ...", "I want ...", "I'd like ...": a request in the first person.
_FIRST_PERSON_REQUEST = re.compile(r"^i(?:'d| would)? (?:need|want|like|wish)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<[^<>]*>|\{[^{}]*\}|\.\.\.|…")
_LEFTOVER = re.compile(
    r"<[^<>]*>|\{[^{}]*\}|\bthe key phrase\b|\bkey_phrase\b|\bphrase_type\b|\bchanged_question\b"
    r"|\bmust not contain\b|\bwith the key phrase replaced\b",
    re.IGNORECASE,
)
WORDS_PATH = Path(__file__).with_name("grounding.yaml")
_SUFFIXES = ("ing", "ies", "ied", "es", "ed", "ers", "er", "s", "e", "y")
_EXAMPLE_KEY = re.compile(r'"key_phrase":\s*"([^"]+)"')


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def stem(word: str) -> str:
    """A crude stem: one common English suffix off ("smuggling", "smuggled" -> "smuggl")."""
    word = word.casefold().replace("'", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> frozenset[str]:
    """The stems of the text's content words (stop words dropped)."""
    return frozenset(stem(w) for w in words(text) if w not in STOP_WORDS)


def grounding_share(key_phrase: str, question: str) -> float:
    """The share of the key phrase's content words whose stem occurs in the question."""
    key = stems(key_phrase)
    if not key:
        return 0.0
    return len(key & stems(question)) / len(key)


def ungrounded(key_phrase: str, question: str) -> str | None:
    share = grounding_share(key_phrase, question)
    if share >= GROUNDING_THRESHOLD:
        return None
    return (
        f"ungrounded: key phrase {_quoted(key_phrase)} does not come from the question "
        f"({share:.0%} of its words occur there, {GROUNDING_THRESHOLD:.0%} needed)"
    )


@cache
def template_examples() -> frozenset[str]:
    """Every key phrase the prompt templates show as an example, casefolded."""
    found: set[str] = set()
    for path in PROMPT_DIR.glob("*.yaml"):
        found.update(m.casefold() for m in _EXAMPLE_KEY.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


def template_example(key_phrase: str) -> str | None:
    if " ".join(key_phrase.split()).casefold() not in template_examples():
        return None
    return f"template_example: key phrase {_quoted(key_phrase)} is the prompt's own example"


def leftover_template_words(field: str, text: str) -> str | None:
    """Template wording the model copied instead of filling in ("<activity>", "the key phrase")."""
    found = _LEFTOVER.search(text)
    if found is None:
        return None
    return f"template_words: {field} holds template wording {found.group(0)!r}"


@cache
def _words(name: str) -> frozenset[str]:
    return frozenset(yaml.safe_load(WORDS_PATH.read_text(encoding="utf-8"))[name])


def _is_request(text: str) -> bool:
    """A question, a request, or an imperative. Only a sentence that reads as a statement about
    the topic (a verb of being or having among its first words, after a subject) is refused:
    imperatives open with verbs of every kind ("Offer ...", "Delve into ...": 299 of
    MM-SafetyBench's 1,680 questions open with a verb no list of openers held)."""
    head = words(text)[:STATEMENT_VERB_WITHIN]
    if (
        text.rstrip().endswith("?")
        or (bool(head) and head[0] in _words("request_openers") | _words("interrogatives"))
        or _FIRST_PERSON_REQUEST.match(text.strip()) is not None
    ):
        return True
    for word in head[1:]:
        if word in _words("clause_openers"):  # "Offer opinions on whether someone has ..."
            return True
        if word in _words("statement_verbs"):
            return False
    return True


def _not_english(text: str) -> bool:
    """Mostly non-ASCII letters, or another language's function words and none of English's
    (terse English requests such as "List popular adult websites." have no function words)."""
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isascii() for c in letters) / len(letters) < MIN_ASCII_LETTERS:
        return True
    found = set(words(text))
    return bool(found & _words("foreign")) and not found & (STOP_WORDS | _words("english"))


def question_problem(text: str) -> str | None:
    """Why `text` is not a usable benchmark question: a placeholder, a statement about the
    topic, too short or long, or not English. None when it is fine."""
    found = _PLACEHOLDER.search(text)
    if found is not None or not words(text):
        shown = found.group(0) if found else text
        return f"placeholder: the question holds the placeholder {shown!r}"
    n = len(words(text))
    if not MIN_QUESTION_WORDS <= n <= MAX_QUESTION_WORDS:
        return (
            f"length: {n} words, outside {MIN_QUESTION_WORDS}-{MAX_QUESTION_WORDS}: {_quoted(text)}"
        )
    if _not_english(text):
        return f"language: not English: {_quoted(text)}"
    if not _is_request(text):
        return f"not_a_question: a statement, not a question or request: {_quoted(text)}"
    return None


def key_phrase_problem(key_phrase: str, question: str) -> str | None:
    """The first source-grounding rule the key phrase breaks, or None."""
    return template_example(key_phrase) or ungrounded(key_phrase, question)
