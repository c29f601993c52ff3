"""Which judge rule each scenario gets, and a refusal / disclaimer detector that needs no
network (the rules judge, and the judges' consistency check, use it). Rules and phrases are data
(schemas/prompts/judge_rules.yaml)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from schemas._base import StrictModel
from schemas.evaluation import JudgeRule
from schemas.prompts import load_template
from schemas.records import Taxonomy

RULES_FILE = "judge_rules"


class JudgeRules(StrictModel):
    version: str
    kinds: dict[str, JudgeRule]
    scenarios: dict[str, JudgeRule]
    refusal_window: int
    refusal_only_max_words: int
    refusal_markers: list[str]
    disclaimer_markers: list[str]


@cache
def load_rules() -> JudgeRules:
    return JudgeRules.model_validate(load_template(RULES_FILE))


def scenario_rules(taxonomy: Taxonomy, slugs: Iterable[str]) -> dict[str, JudgeRule]:
    """The rule of each scenario in `slugs`, in taxonomy order; unknown scenarios are an error
    (a judge rule guessed for them would make the numbers incomparable)."""
    rules = load_rules()
    wanted = set(slugs)
    known = {s.slug for s in taxonomy.scenarios}
    if missing := sorted(wanted - known):
        raise ValueError(
            f"scenario(s) {', '.join(missing)} are not in taxonomy {taxonomy.name!r}: "
            "name the release's taxonomy (--taxonomy)"
        )
    return {
        s.slug: rules.scenarios.get(s.slug, rules.kinds[s.kind])
        for s in taxonomy.scenarios
        if s.slug in wanted
    }


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").casefold().split())


def detect(text: str | None) -> tuple[bool, bool]:
    """(refusal, disclaimer) of an answer. An empty answer gives nothing: it counts as a refusal."""
    rules = load_rules()
    body = _normalise(text or "")
    if not body:
        return True, False
    head = body[: rules.refusal_window]
    refusal = any(m in head for m in rules.refusal_markers)
    disclaimer = any(m in body for m in rules.disclaimer_markers)
    return refusal, disclaimer


def refusal_only(text: str | None) -> bool:
    """An answer that refuses and says little else (at most `refusal_only_max_words` words)."""
    refusal, _ = detect(text)
    return refusal and len((text or "").split()) <= load_rules().refusal_only_max_words
