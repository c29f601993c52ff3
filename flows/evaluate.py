"""Evaluate a model on a release: load the release with `datasets`, send every sample (prompt +
image parts) K times to an OpenAI-compatible endpoint through the LLM stage's cache, judge each
answer with the rule-based judge and optionally an LLM judge, and record one catalog row per
sample x attempt. The pure logic lives in `evaluation/`; this module does the I/O.

The run id is a hash of the protocol, so running the same evaluation again (after a crash, a
kill, or to add the report) is the same run: cached answers are reused, nothing is duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import yaml
from pydantic import Field

from catalog import Catalog, CatalogError
from evaluation import (
    JUDGE_SCHEMA,
    EvalSample,
    JudgeAnswerError,
    LLMJudgement,
    asr_chart,
    build_report,
    load_rules,
    parse_judgement,
    render_judge,
    render_markdown,
    rule_judge,
    sample_messages,
    scenario_rules,
    select_samples,
    template_versions,
)
from generators.llm_cache import ResponseCache
from generators.llm_stage import ask, ask_validated
from generators.llm_types import ChatRequest, ChatResult, LLMProvider
from generators.providers import make_provider
from generators.validation import Invalid
from schemas._base import StrictModel
from schemas.config import LLMConfig
from schemas.prompts import messages_sha256
from schemas.records import (
    EvalProtocol,
    EvalResult,
    EvalRun,
    JudgeRule,
    LLMCall,
    PromptProvenance,
    stable_id,
    utcnow,
)
from schemas.taxonomy import load_taxonomy

DEFAULT_TAXONOMY = "mm-safetybench"
Progress = Callable[[int, int], None]


class EvaluationSettings(StrictModel):
    release: str  # a local release folder (optionally NAME_DIR@version) or a Hub repo[@version]
    configs: list[str] = Field(default_factory=list)  # empty: every config of the release
    split: str = "test"
    attempts: int = Field(default=1, ge=1)
    limit: int | None = Field(default=None, ge=1)  # samples per config
    taxonomy: str | None = None  # None: the release's build_config.yaml, else mm-safetybench
    model: LLMConfig
    judge: LLMConfig | None = None  # None: the rule-based judge only
    batch_size: int = Field(default=128, ge=1)  # samples per catalog write (what a kill loses)


class ReleaseSource(StrictModel):
    location: str  # absolute folder, or Hub repo id
    local: bool
    revision: str | None = None
    fingerprint: str | None = None
    taxonomy: str | None = None
    configs: list[str]


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split("."))


def resolve_release(spec: str) -> ReleaseSource:
    """`releases/NAME/1.2.0`, `releases/NAME@1.2.0`, `releases/NAME` (newest version), or a Hub
    repo `ORG/NAME@1.2.0` (tag v1.2.0; without a version, the main branch)."""
    base, _, version = spec.rpartition("@") if "@" in spec else (spec, "", "")
    folder = Path(base)
    if folder.is_dir():
        if version:
            folder = folder / version
        elif not (folder / "data").is_dir():
            versions = [p.name for p in folder.iterdir() if p.is_dir() and p.name[:1].isdigit()]
            if not versions:
                raise ValueError(f"{folder} holds no release (no data/ folder, no versions)")
            folder = folder / max(versions, key=_version_key)
        if not (folder / "data").is_dir():
            raise ValueError(f"{folder} is not a release folder (no data/)")
        manifest = _read(folder / "MANIFEST.json", json.loads)
        build = _read(folder / "build_config.yaml", yaml.safe_load)
        return ReleaseSource(
            location=str(folder.resolve()),
            local=True,
            revision=manifest.get("version"),
            fingerprint=manifest.get("content_sha256"),
            taxonomy=build.get("taxonomy"),
            configs=sorted(p.name for p in (folder / "data").iterdir() if p.is_dir()),
        )
    revision = f"v{version}" if version[:1].isdigit() else (version or None)
    configs = datasets.get_dataset_config_names(base, revision=revision)
    return ReleaseSource(location=base, local=False, revision=revision, configs=configs)


def _read(path: Path, parse: Callable[[str], Any]) -> dict[str, Any]:
    return (parse(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def load_samples(
    source: ReleaseSource, config: str, split: str, cache_root: Path
) -> list[EvalSample]:
    """Rows of one config and split, image bytes undecoded (sent as they were published).

    A local release gets its own datasets cache: the shared one keys a local folder by its name
    and config, so two different `.../0.1.0` releases read each other's cached rows.
    """
    revision, cache_dir = source.revision, None
    if source.local:
        key = stable_id("release", source.location, source.fingerprint or "")
        revision, cache_dir = None, str(cache_root / key)
    ds = datasets.load_dataset(
        source.location, config, split=split, revision=revision, cache_dir=cache_dir
    )
    if "image" in ds.column_names:
        ds = ds.cast_column("image", datasets.Image(decode=False))
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.List(datasets.Image(decode=False)))
    samples = []
    for row in ds:
        cells = row.get("images") or ([row["image"]] if row.get("image") else [])
        samples.append(
            EvalSample(
                sample_id=row["id"],
                scenario=row["scenario"],
                scenario_name=row["scenario_name"],
                variant=row["variant"],
                question=row["question"],
                prompt=row["prompt"],
                images=[c["bytes"] for c in cells],
            )
        )
    return samples


def _judge_llm(judge: LLMConfig) -> LLMConfig:
    return judge.model_copy(update={"structured_output": "json_object"})


def _protocol(
    settings: EvaluationSettings,
    source: ReleaseSource,
    configs: list[str],
    taxonomy: str,
    rules: dict[str, JudgeRule],
    model: LLMProvider,
    judge: LLMProvider | None,
) -> EvalProtocol:
    return EvalProtocol(
        release=source.location,
        revision=source.revision,
        release_sha256=source.fingerprint,
        split=settings.split,
        configs=configs,
        limit=settings.limit,
        attempts=settings.attempts,
        model=model.model,
        base_url=model.base_url or "",
        params={k: v for k, v in model.params().items() if k != "structured_output"},
        taxonomy=taxonomy,
        judge_rules=rules,
        rules_version=load_rules().version,
        judge_templates=template_versions() if judge else {},
        judge_model=judge.model if judge else None,
        judge_base_url=judge.base_url if judge else None,
        judge_params=judge.params() if judge else {},
        primary_judge="llm" if judge else "rule",
    )


def _model_request(sample: EvalSample, attempt: int, revision: str | None) -> ChatRequest:
    messages = sample_messages(sample)
    return ChatRequest(
        stage="evaluate",
        scenario=sample.scenario,
        messages=messages,
        prompt=PromptProvenance(
            template=f"release:{sample.variant}",
            template_version=revision or "",
            prompt_sha256=messages_sha256(messages),
        ),
        sample=attempt,  # each attempt its own cache key and seed
    )


def _judge_request(sample: EvalSample, rule: JudgeRule, response: str) -> ChatRequest:
    rendered = render_judge(rule, sample.scenario_name, sample.question, response)
    return ChatRequest(
        stage="judge",
        scenario=sample.scenario,
        messages=rendered.messages,
        response_schema=JUDGE_SCHEMA,
        prompt=rendered.provenance,
    )


def _validate_judgement(_: ChatRequest, result: ChatResult) -> LLMJudgement:
    try:
        return parse_judgement(result.text, result.finish_reason)
    except JudgeAnswerError as exc:
        raise Invalid("judge", str(exc)) from None


def _batches(items: Sequence[EvalSample], size: int) -> Iterator[Sequence[EvalSample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def evaluate_batch(
    samples: Sequence[EvalSample],
    *,
    run_id: str,
    attempts: int,
    revision: str | None,
    rules: dict[str, JudgeRule],
    model: LLMProvider,
    judge: LLMProvider | None,
    cache: ResponseCache,
) -> tuple[list[EvalResult], list[LLMCall]]:
    """Ask, then judge, every sample x attempt; the judge's calls come back for the catalog."""
    pairs = [(s, a) for s in samples for a in range(attempts)]
    answers = ask(model, cache, [_model_request(s, a, revision) for s, a in pairs], run_id)
    rows: list[EvalResult] = []
    for (sample, attempt), (result, record) in zip(pairs, answers, strict=True):
        row = EvalResult(
            run_id=run_id,
            sample_id=sample.sample_id,
            attempt=attempt,
            scenario=sample.scenario,
            scenario_name=sample.scenario_name,
            variant=sample.variant,
            question=sample.question,
            judge_rule=rules[sample.scenario],
            call_id=record.call_id,
            response_text=result.text,
            finish_reason=result.finish_reason,
            error=result.error,
            latency_s=result.latency_s,
            tokens_in=result.tokens_in,
            tokens_out=result.tokens_out,
            retries=result.retries,
            cached=record.cached,
        )
        if result.error is None:
            verdict = rule_judge(row.judge_rule, result.text)
            row.rule_verdict = verdict.verdict
            row.rule_refusal = verdict.refusal
            row.rule_disclaimer = verdict.disclaimer
        rows.append(row)
    calls: list[LLMCall] = []
    if judge is None:
        return rows, calls
    judged = [(row, sample) for row, (sample, _) in zip(rows, pairs, strict=True) if not row.error]
    requests = [_judge_request(s, row.judge_rule, row.response_text or "") for row, s in judged]
    outcomes = ask_validated(judge, cache, requests, _validate_judgement, run_id)
    for (row, _), outcome in zip(judged, outcomes, strict=True):
        calls.extend(outcome.calls)
        row.judge_call_id = outcome.calls[0].call_id
        if outcome.value is None:
            row.llm_error = outcome.reason
            continue
        row.llm_verdict = outcome.value.verdict
        row.llm_refusal = outcome.value.refusal
        row.llm_reason = outcome.value.reason
    return rows, calls


def _summary(results: Sequence[EvalResult], calls: Sequence[LLMCall]) -> dict[str, Any]:
    return {
        "attempts": len(results),
        "model_requests": sum(not r.cached for r in results),
        "model_cache_hits": sum(r.cached for r in results),
        "model_errors": sum(r.error is not None for r in results),
        "judge_requests": sum(not c.cached for c in calls),
        "judge_cache_hits": sum(c.cached for c in calls),
        "judge_errors": sum(r.llm_error is not None for r in results),
        "tokens_in": sum(r.tokens_in for r in results if not r.cached),
        "tokens_out": sum(r.tokens_out for r in results if not r.cached),
    }


def evaluate_release(
    settings: EvaluationSettings, artifacts: Path, progress: Progress | None = None
) -> EvalRun:
    """Run (or resume) the evaluation and record it in `<artifacts>/catalog.duckdb`."""
    source = resolve_release(settings.release)
    configs = settings.configs or source.configs
    if unknown := sorted(set(configs) - set(source.configs)):
        raise ValueError(
            f"config(s) {', '.join(unknown)} not in the release (it has {', '.join(source.configs)})"
        )
    samples = [
        s
        for config in configs
        for s in select_samples(
            load_samples(source, config, settings.split, artifacts / "cache" / "datasets"),
            settings.limit,
        )
    ]
    taxonomy = load_taxonomy(settings.taxonomy or source.taxonomy or DEFAULT_TAXONOMY)
    rules = scenario_rules(taxonomy, {s.scenario for s in samples})
    model = make_provider(settings.model)
    judge = make_provider(_judge_llm(settings.judge)) if settings.judge else None
    protocol = _protocol(settings, source, configs, taxonomy.name, rules, model, judge)
    run = EvalRun(
        run_id=stable_id("eval", protocol.model_dump_json(), length=12), protocol=protocol
    )
    cache = ResponseCache(artifacts / "cache" / "llm")
    results: list[EvalResult] = []
    calls: list[LLMCall] = []
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        catalog.upsert("eval_runs", [run])
        try:
            for batch in _batches(samples, settings.batch_size):
                rows, judge_calls = evaluate_batch(
                    batch,
                    run_id=run.run_id,
                    attempts=settings.attempts,
                    revision=source.revision,
                    rules=rules,
                    model=model,
                    judge=judge,
                    cache=cache,
                )
                catalog.upsert("eval_results", rows)
                catalog.upsert("llm_calls", judge_calls)
                results += rows
                calls += judge_calls
                if progress is not None:
                    progress(len(results) // settings.attempts, len(samples))
            run.status = "completed"
        except BaseException:
            run.status = "failed"
            raise
        finally:
            run.finished_at = utcnow()
            run.summary = _summary(results, calls)
            catalog.upsert("eval_runs", [run])
    return run


def find_run(catalog: Catalog, run: str) -> EvalRun:
    """An evaluation run by id, unique id prefix, or "latest"."""
    if run == "latest":
        runs = catalog.records("eval_runs", "true ORDER BY started_at DESC LIMIT 1")
    else:
        runs = catalog.records("eval_runs", "starts_with(run_id, ?)", [run])
    if len(runs) != 1:
        found = ", ".join(r.run_id for r in runs) or "none"
        raise CatalogError(f"no single evaluation run matches {run!r} (found: {found})")
    return runs[0]


def write_report(artifacts: Path, run: str, out_dir: Path | None = None) -> tuple[str, Path]:
    """Render the report of a recorded run: `report.md`, `asr.png` and `protocol.json` in
    `out_dir` (default `<artifacts>/evaluations/<run id>/`); returns (markdown, folder)."""
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        record = find_run(catalog, run)
        results = catalog.records("eval_results", "run_id = ?", [record.run_id])
    report = build_report(record, results)
    folder = out_dir or artifacts / "evaluations" / record.run_id
    chart = asr_chart(report, folder / "asr.png")
    markdown = render_markdown(report, chart=chart.name)
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "protocol.json").write_text(
        record.protocol.model_dump_json(indent=2), encoding="utf-8"
    )
    return markdown, folder
