"""A deterministic, network-free provider composing answers from the offline template bank.

It answers the same JSON the real prompts ask for, so everything downstream (validation, repair,
caching, catalog) runs unchanged; its records say `offline` in their provenance.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from generators.dedup import Deduplicator
from generators.llm_types import ChatRequest, ChatResult, ResultCallback
from generators.offline_derive import OfflineDeriveError, compose_derived
from generators.offline_fill import HEURISTIC_VERSION, compose_fill
from generators.offline_grounded import compose_grounded, load_grounded_bank
from generators.rephrase import with_article
from schemas.records import normalize_text

BANK_PATH = Path(__file__).with_name("offline_bank.yaml")


@cache
def load_bank() -> dict[str, Any]:
    return yaml.safe_load(BANK_PATH.read_text(encoding="utf-8"))


def _candidates(slug: str, seed: int) -> list[tuple[str, dict[str, str]]]:
    """All (phrase, frame) pairs of a scenario in a seeded order that covers every phrase
    before reusing one, so the first questions of a scenario are about distinct things."""
    bank = load_bank()
    entry = bank["scenarios"][slug]
    frames = bank["frame_sets"][entry["frames"]]
    rng = random.Random(f"{seed}:{slug}")
    phrases = list(entry["phrases"])
    rng.shuffle(phrases)
    ordered: list[tuple[str, dict[str, str]]] = []
    for offset in range(len(frames)):
        for i, phrase in enumerate(phrases):
            ordered.append((phrase, frames[(i + offset) % len(frames)]))
    return ordered


def compose_questions(slug: str, n: int, avoid: list[str], seed: int) -> list[str]:
    seen = {normalize_text(q) for q in avoid}
    out: list[str] = []
    for phrase, frame in _candidates(slug, seed):
        text = frame["question"].format(phrase=phrase)
        if normalize_text(text) not in seen:
            out.append(text)
            seen.add(normalize_text(text))
        if len(out) == n:
            break
    return out


def compose_extraction(slug: str, kind: str, question: str, seed: int) -> dict[str, str]:
    """The key-phrase record for a question the bank composed; for any other question (one
    of a scenario the bank lacks, or naming none of its phrases) the offline heuristic's."""
    bank = load_bank()
    entry = bank["scenarios"].get(slug)
    lowered = question.casefold()
    matches = [p for p in entry["phrases"] if p.casefold() in lowered] if entry else []
    if not matches:
        context = {"kind": kind, "question": question, "given": {}}
        return compose_fill(context, bank["rephrasings"])
    phrase = max(matches, key=len)
    frame = next(
        (
            f
            for p, f in _candidates(slug, seed)
            if p == phrase and f["question"].format(phrase=p) == question
        ),
        bank["frame_sets"][entry["frames"]][0],
    )
    ptype = entry["phrase_type"]
    wording = bank["rephrasings"]
    benign = entry["twin_phrases"][entry["phrases"].index(phrase)]
    fields = {
        "phrase": phrase,
        "phrase_type": ptype,
        "a_type": with_article(ptype),
        "question": question,
        "question_with_placeholder": question.replace(phrase, f"this {ptype}"),
    }
    fields["instruction"] = wording[kind]["instruction"].format(**fields)
    return {
        "changed_question": wording[kind]["changed_question"].format(**fields),
        "key_phrase": phrase,
        "phrase_type": ptype,
        "rephrased_question": wording["rephrased_question"].format(**fields),
        "rephrased_question_sd": wording["rephrased_question_sd"].format(**fields),
        "figstep_statement": frame["statement"].format(phrase=phrase),
        "benign_question": frame["twin"]["question"].format(phrase=benign),
        "benign_key_phrase": benign,
        "benign_figstep_statement": frame["twin"]["statement"].format(phrase=benign),
    }


def compose_leak_verdict(prompt: str, key_phrase: str, phrase_type: str) -> dict[str, Any]:
    """The leakage judge's answer: the request is recoverable from the prompt when at least half
    of its key phrase's content words (three letters or more) occur in it. The phrase type's
    words do not count: image prompts name it ("this request") and it reveals nothing."""
    generic = set(re.findall(r"[a-z0-9']+", phrase_type.casefold()))
    words = {w for w in re.findall(r"[a-z0-9']+", key_phrase.casefold()) if len(w) >= 3} - generic
    seen = set(re.findall(r"[a-z0-9']+", prompt.casefold()))
    found = sorted(words & seen)
    recoverable = bool(words) and 2 * len(found) >= len(words)
    return {
        "recoverable": recoverable,
        "recovered": key_phrase if recoverable else "",
        "reason": f"the text names {', '.join(found)}" if found else "the text names no subject",
    }


class OfflineProvider:
    """Implements generators.llm_types.LLMProvider without any network."""

    name = "offline"
    offline = True
    base_url: str | None = None

    def __init__(self, model: str, seed: int) -> None:
        self.model = model
        self.seed = seed

    def params(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "bank_version": str(load_bank()["version"]),
            "grounded_bank_version": str(load_grounded_bank()["version"]),
            "heuristic_version": HEURISTIC_VERSION,
        }

    def complete_many(
        self, requests: list[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[ChatResult]:
        results = []
        for index, request in enumerate(requests):
            results.append(self._answer(request))
            if on_result is not None:
                on_result(index, results[-1])
        return results

    def _answer(self, request: ChatRequest) -> ChatResult:
        ctx = request.context.get("repair_of", request.context)
        stage = ctx.get("stage", request.stage)
        if stage == "questions":
            if ctx["scenario"] not in load_bank()["scenarios"]:
                return ChatResult(
                    error=f"the offline bank has no questions for scenario {ctx['scenario']!r}: "
                    "import questions (questions_from) or use an LLM (llm.provider: openai)"
                )
            payload: dict[str, Any] = {
                "questions": compose_questions(
                    ctx["scenario"], ctx["n"], ctx.get("avoid", []), self.seed
                )
            }
        elif stage == "extraction":
            payload = compose_extraction(ctx["scenario"], ctx["kind"], ctx["question"], self.seed)
        elif stage == "fill":
            payload = compose_fill(ctx, load_bank()["rephrasings"])
        elif stage == "review":
            payload = compose_leak_verdict(ctx["prompt"], ctx["key_phrase"], ctx["phrase_type"])
        elif stage == "grounded_questions":
            payload = compose_grounded(ctx, self.seed)
        elif stage == "derive":
            try:
                payload = compose_derived(ctx)
            except OfflineDeriveError as exc:
                return ChatResult(error=str(exc))
        else:
            return ChatResult(error=f"offline provider cannot answer stage {stage!r}")
        text = json.dumps(payload, ensure_ascii=False)
        return ChatResult(text=text, finish_reason="stop", tokens_out=len(text.split()))


def offline_capacity(slug: str, seed: int, threshold: float) -> int:
    """How many distinct questions the bank can give `slug` (frame x phrase, less the ones the
    near-duplicate check would reject): what an offline build can reach per scenario."""
    if slug not in load_bank()["scenarios"]:
        return 0
    dedup = Deduplicator(threshold)
    kept = 0
    for i, (phrase, frame) in enumerate(_candidates(slug, seed)):
        text = frame["question"].format(phrase=phrase)
        if dedup.check(text) is None:
            dedup.add(text, str(i))
            kept += 1
    return kept
