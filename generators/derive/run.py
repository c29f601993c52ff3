"""Run derivations for questions: pure ones at once, LLM ones turn by turn through the cache
with validation and one repair (generators.llm_stage.ask_validated)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generators.derive.base import DERIVATIONS, Derivation, DeriveError
from generators.llm_cache import ResponseCache
from generators.llm_stage import ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.validation import parse_json_object
from schemas.records import DerivedText, LLMCall


@dataclass(frozen=True)
class DeriveJob:
    """One derivation for one question: its input fields (with `scenario`) and parameters."""

    question_id: str
    derivation: str
    params: dict[str, Any]
    fields: dict[str, Any]

    @property
    def params_key(self) -> str:
        return json.dumps(self.params, sort_keys=True, ensure_ascii=False)


@dataclass
class DeriveOutcome:
    records: list[DerivedText] = field(default_factory=list)  # one per job, in job order
    calls: list[LLMCall] = field(default_factory=list)


def derivation_params(derivation: Derivation, variant_params: Mapping[str, Any]) -> dict[str, Any]:
    """The derivation's parameters: its defaults, overridden by the variant's of the same name."""
    return {k: variant_params.get(k, default) for k, default in derivation.params.items()}


def _record(job: DeriveJob, **values: Any) -> DerivedText:
    return DerivedText(
        question_id=job.question_id,
        derivation=job.derivation,
        params=job.params,
        params_key=job.params_key,
        **values,
    )


def _missing(job: DeriveJob, derivation: Derivation) -> str | None:
    lacking = [name for name in derivation.reads if not str(job.fields.get(name) or "").strip()]
    return f"no {', '.join(lacking)} to derive from" if lacking else None


def run_derivations(
    jobs: list[DeriveJob],
    provider: LLMProvider | None,
    cache: ResponseCache | None,
    run_id: str,
) -> DeriveOutcome:
    """One record per job, accepted with its fields or rejected with the reason; every LLM
    call made. `provider` and `cache` are needed only when an LLM derivation is among the jobs."""
    out = DeriveOutcome()
    records: list[DerivedText | None] = [None] * len(jobs)
    llm: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        derivation = DERIVATIONS[job.derivation]
        problem = _missing(job, derivation)
        if problem is not None:
            records[index] = _record(job, status="rejected", reject_reason=problem)
        elif derivation.compute is not None:
            try:
                fields = derivation.compute(job.fields, job.params)
                records[index] = _record(job, fields=fields)
            except DeriveError as exc:
                records[index] = _record(job, status="rejected", reject_reason=str(exc))
        else:
            llm.setdefault(job.derivation, []).append(index)
    for name, indices in llm.items():
        if provider is None or cache is None:
            raise ValueError(f"derivation {name!r} asks an LLM: give a provider and a cache")
        for index, record in _run_llm(DERIVATIONS[name], [jobs[i] for i in indices],
                                      provider, cache, run_id, out).items():  # fmt: skip
            records[indices[index]] = record
    out.records = [r for r in records if r is not None]
    return out


def _run_llm(
    derivation: Derivation,
    jobs: list[DeriveJob],
    provider: LLMProvider,
    cache: ResponseCache,
    run_id: str,
    out: DeriveOutcome,
) -> dict[int, DerivedText]:
    """The records of one LLM derivation's jobs (by position in `jobs`)."""
    answers: list[dict[str, Any]] = [{} for _ in jobs]
    calls: list[list[str]] = [[] for _ in jobs]
    done: dict[int, DerivedText] = {}
    for turn in derivation.turns:
        pending = [i for i in range(len(jobs)) if i not in done]
        requests: list[ChatRequest] = []
        owner: dict[int, int] = {}
        for i in pending:
            request = turn.request(jobs[i].fields, jobs[i].params, answers[i])
            owner[id(request)] = i
            requests.append(request)

        def validate(request: ChatRequest, result: ChatResult, turn=turn, owner=owner):
            i = owner[id(request)]
            obj = parse_json_object(result.text, result.finish_reason)
            return turn.check(obj, jobs[i].fields, jobs[i].params, answers[i])

        outcomes = ask_validated(provider, cache, requests, validate, run_id)
        for i, outcome in zip(pending, outcomes, strict=True):
            out.calls.extend(outcome.calls)
            calls[i] += [c.call_id for c in outcome.calls]
            if outcome.value is None:
                reason = f"{turn.name}: {outcome.reason}"
                done[i] = _record(
                    jobs[i], status="rejected", reject_reason=reason, call_ids=calls[i]
                )
            else:
                answers[i].update(outcome.value)
    for i, job in enumerate(jobs):
        if i in done:
            continue
        try:
            fields = (
                derivation.finish(job.fields, job.params, answers[i]) if derivation.finish else {}
            )
            done[i] = _record(job, fields=fields, call_ids=calls[i])
        except DeriveError as exc:
            done[i] = _record(job, status="rejected", reject_reason=str(exc), call_ids=calls[i])
    return done
