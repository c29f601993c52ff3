"""The derivation stage of `build_benchmark`: the text fields the chosen variants derive
(`derive:` in their specs) for every accepted key-phrase record, before the images.

A derivation is run once per question and parameter set, however many variants use it; a
question whose derivation fails keeps its samples in those variants, rejected with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from rich.console import Console

from flows.assemble import sample_fields
from flows.limits import paced
from generators.derive import DERIVATIONS, DeriveJob, derivation_params, run_derivations
from generators.llm_cache import ResponseCache
from generators.providers import make_provider
from schemas.config import BuildConfig, ConfigError
from schemas.records import DerivedText, Extraction, LLMCall
from schemas.variants import VariantSpec

console = Console(stderr=True)
SampleKey = tuple[str, str]  # (question id, variant)


@dataclass
class DerivedFields:
    # Each (question, variant) that derives text: its fields (blank where a derivation failed,
    # so its prompt can still be written for the rejected sample).
    fields: dict[SampleKey, dict[str, str]] = field(default_factory=dict)
    errors: dict[SampleKey, str] = field(default_factory=dict)  # why a sample lacks its fields
    records: list[DerivedText] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)

    def usable(self) -> dict[SampleKey, dict[str, str]]:
        """The fields of samples whose derivations all succeeded (the images are made only
        for those)."""
        return {k: v for k, v in self.fields.items() if k not in self.errors}


def check_derivations(specs: Sequence[VariantSpec]) -> None:
    for spec in specs:
        unknown = [d for d in spec.derive if d not in DERIVATIONS]
        if unknown:
            raise ConfigError(
                f"variant {spec.name}: unknown derivation(s) {', '.join(unknown)}; "
                f"known: {', '.join(DERIVATIONS)}"
            )


def derive_fields(
    config: BuildConfig,
    extractions: Sequence[Extraction],
    specs: Sequence[VariantSpec],
    artifacts: Path,
    run_id: str,
) -> DerivedFields:
    check_derivations(specs)
    jobs: dict[tuple[str, str, str], DeriveJob] = {}
    wanted: dict[SampleKey, list[tuple[str, str, str]]] = {}
    for spec in specs:
        if not spec.derive:
            continue
        params = config.variant_params_of(spec)
        for extraction in extractions:
            inputs = {**sample_fields(extraction), "scenario": extraction.scenario}
            for name in spec.derive:
                job = DeriveJob(
                    extraction.question_id,
                    name,
                    derivation_params(DERIVATIONS[name], params),
                    inputs,
                )
                key = (job.question_id, name, job.params_key)
                jobs.setdefault(key, job)
                wanted.setdefault((extraction.question_id, spec.name), []).append(key)
    result = DerivedFields()
    if not jobs:
        return result
    needs_llm = any(DERIVATIONS[job.derivation].uses_llm for job in jobs.values())
    provider = paced(make_provider(config.llm), config.llm) if needs_llm else None
    cache = ResponseCache(artifacts / "cache" / "llm") if needs_llm else None
    with console.status(f"Deriving text for {len(jobs)} (question, derivation) pairs"):
        outcome = run_derivations(list(jobs.values()), provider, cache, run_id)
    by_key = dict(zip(jobs, outcome.records, strict=True))
    for sample_key, keys in wanted.items():
        fields: dict[str, str] = {}
        for key in keys:
            record = by_key[key]
            if record.status == "rejected":
                result.errors.setdefault(
                    sample_key, f"derive {record.derivation}: {record.reject_reason}"
                )
                fields |= dict.fromkeys(DERIVATIONS[record.derivation].produces, "")
            else:
                fields |= record.fields
        result.fields[sample_key] = fields
    result.records, result.calls = outcome.records, outcome.calls
    return result


@task(name="derive", cache_policy=NO_CACHE, persist_result=False)
def derive_stage(
    config: BuildConfig,
    extractions: list[Extraction],
    specs: list[VariantSpec],
    artifacts: Path,
    run_id: str,
) -> DerivedFields:
    return derive_fields(config, extractions, specs, artifacts, run_id)
