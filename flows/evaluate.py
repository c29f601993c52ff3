"""Evaluate a model on a release: load the release with `datasets`, probe what the model accepts
(image parts, images per request), send every sample (prompt + image parts) K times to an
OpenAI-compatible endpoint through the LLM stage's cache, judge each answer with every chosen
judge (evaluation.judges), and record one catalog row per sample x attempt and one verdict row
per judge. The pure logic lives in `evaluation/`; this module does the I/O.

The run id is a hash of the protocol, so running the same evaluation again (after a crash, a
kill, or to add the report) is the same run: cached answers are reused, nothing is duplicated.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import yaml
from PIL import Image
from pydantic import Field

from catalog import Catalog, CatalogError
from evaluation import (
    EvalSample,
    Judge,
    JudgeAnswerError,
    JudgeInput,
    JudgeOptions,
    make_judge,
    sample_messages,
    scenario_rules,
    select_samples,
)
from evaluation.judges import Contradiction
from generators.llm_cache import ResponseCache
from generators.llm_stage import ask
from generators.llm_types import ChatRequest, LLMFatalError, LLMProvider
from generators.providers import make_provider
from schemas._base import StrictModel
from schemas.config import LLMConfig
from schemas.evaluation import (
    EvalProtocol,
    EvalResult,
    EvalRun,
    ImageSupport,
    JudgeRule,
    JudgeVerdict,
)
from schemas.prompts import messages_sha256
from schemas.records import LLMCall, PromptProvenance, stable_id, utcnow
from schemas.tasks import LABEL_COLUMNS, REFUSAL
from schemas.taxonomy import load_taxonomy

DEFAULT_TAXONOMY = "mm-safetybench"
Progress = Callable[[int, int], None]


class ImageCapabilityError(RuntimeError):
    """The evaluated model cannot take the images the selected samples need."""


class EvaluationSettings(StrictModel):
    release: str  # a local release folder (optionally NAME_DIR@version) or a Hub repo[@version]
    configs: list[str] = Field(default_factory=list)  # empty: every config of the release
    split: str = "test"
    attempts: int = Field(default=1, ge=1)
    limit: int | None = Field(default=None, ge=1)  # samples per config
    taxonomy: str | None = None  # None: the release's build_config.yaml, else mm-safetybench
    model: LLMConfig
    # The judges, in report order (the first is primary). Empty: rules, plus llm when a judge
    # model is given.
    judges: list[JudgeOptions] = Field(default_factory=list)
    judge: LLMConfig | None = None  # the model of the llm, rubric and template judges
    guard: LLMConfig | None = None  # the guard judge's model (default: `judge`)
    # When the model cannot take the images some configs need: skip those configs (recorded in
    # the protocol and the report) instead of stopping.
    skip_image_variants: bool = False
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
        task = row.get("task") or REFUSAL
        samples.append(
            EvalSample(
                sample_id=row["id"],
                question_id=row.get("question_id") or "",
                label=row.get("label") or "unsafe",
                config=config,
                scenario=row["scenario"],
                scenario_name=row["scenario_name"],
                variant=row["variant"],
                question=row["question"],
                prompt=row["prompt"],
                images=[c["bytes"] for c in cells],
                task=task,
                labels={c: str(row.get(c) or "") for c in LABEL_COLUMNS.get(task, ())},
            )
        )
    return samples


# --- preflight: what the evaluated model accepts ---

PROBE_TEXT = "This is a connectivity check. Reply with the single word: ok."


def _probe_image() -> bytes:
    image = Image.new("RGB", (32, 32), "white")
    image.paste((0, 0, 0), (8, 8, 24, 24))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _probe_request(images: int) -> ChatRequest:
    sample = EvalSample(
        sample_id="probe",
        scenario="probe",
        scenario_name="probe",
        variant="probe",
        question=PROBE_TEXT,
        prompt=PROBE_TEXT,
        images=[_probe_image()] * images,
    )
    messages = sample_messages(sample)
    return ChatRequest(
        stage="evaluate",
        scenario="probe",
        messages=messages,
        prompt=PromptProvenance(
            template="probe", template_version="1", prompt_sha256=messages_sha256(messages)
        ),
    )


def _accepts(model: LLMProvider, images: int) -> str | None:
    """None when a request with `images` image parts is answered, else the endpoint's error."""
    try:
        [result] = model.complete_many([_probe_request(images)])
    except LLMFatalError as exc:  # e.g. HTTP 400 "image input is not supported"
        return str(exc)
    return result.error


def probe_images(model: LLMProvider, needed: int) -> ImageSupport:
    """Whether the model takes image parts, and how many in one request (up to `needed`).

    A text-only probe goes first: when even that fails, the endpoint itself is the problem
    (wrong URL, key or model) and the error is raised as such, naming the URL."""
    if (problem := _accepts(model, 0)) is not None:
        raise LLMFatalError(f"endpoint {model.base_url} (model {model.model!r}): {problem}")
    if (problem := _accepts(model, needed)) is None:
        return ImageSupport(accepts_images=True, max_images=needed, probed_up_to=needed)
    most = 0
    for count in range(1, needed):
        if _accepts(model, count) is not None:
            break
        most = count
    return ImageSupport(
        accepts_images=most > 0, max_images=most, probed_up_to=needed, detail=problem
    )


def _probe_provider(model: LLMConfig) -> LLMProvider:
    # Bounded: a dead endpoint or a refused image must not cost minutes of retries.
    return make_provider(model.model_copy(update={"max_retries": min(model.max_retries, 1)}))


def image_preflight(
    settings: EvaluationSettings, samples: list[EvalSample]
) -> tuple[list[EvalSample], ImageSupport | None, dict[str, str]]:
    """(samples to send, what the model accepts, configs skipped and why). Stops with
    ImageCapabilityError unless `skip_image_variants` is set."""
    needed_by_config: dict[str, int] = {}
    for sample in samples:
        needed_by_config[sample.config] = max(
            needed_by_config.get(sample.config, 0), len(sample.images)
        )
    needed = max(needed_by_config.values(), default=0)
    if needed == 0 or settings.model.provider == "offline":
        return samples, None, {}
    support = probe_images(_probe_provider(settings.model), needed)
    too_many = {c: n for c, n in needed_by_config.items() if n > support.max_images}
    if not too_many:
        return samples, support, {}
    if support.accepts_images:
        why = {
            c: f"needs {n} images per request; the model takes {support.max_images}"
            for c, n in too_many.items()
        }
    else:
        why = {c: "the model accepts no image parts" for c in too_many}
    if not settings.skip_image_variants:
        names = ", ".join(f"{c} ({w})" for c, w in sorted(why.items()))
        raise ImageCapabilityError(
            f"model {settings.model.model!r} at {settings.model.base_url or 'the default endpoint'} "
            f"cannot take these configs' images: {names}. The endpoint said: {support.detail}. "
            "Choose other configs (--configs) or pass --skip-image-variants to skip them "
            "(recorded in the report)."
        )
    kept = [s for s in samples if s.config not in too_many]
    return kept, support, {c: f"skipped: {w}" for c, w in sorted(why.items())}


# --- the protocol ---


def default_judges(settings: EvaluationSettings) -> list[JudgeOptions]:
    if settings.judges:
        return settings.judges
    judges = [JudgeOptions(kind="rules")]
    if settings.judge is not None:
        judges.insert(0, JudgeOptions(kind="llm"))
    return judges


def judge_model(settings: EvaluationSettings, judge: Judge) -> LLMConfig | None:
    """The model a judge asks (None: a local judge); JSON judges ask in JSON-object mode."""
    if not judge.needs_model:
        return None
    config = settings.guard if judge.kind == "guard" and settings.guard else settings.judge
    if config is None:
        raise ValueError(f"the {judge.name} judge needs a model: give --judge-model")
    return config.model_copy(update={"structured_output": "json_object"})


def _protocol(
    settings: EvaluationSettings,
    source: ReleaseSource,
    configs: list[str],
    taxonomy: str,
    rules: dict[str, JudgeRule],
    model: LLMProvider,
    judges: list[tuple[Judge, LLMProvider | None]],
    images: ImageSupport | None,
    skipped: dict[str, str],
) -> EvalProtocol:
    names = [j.name for j, _ in judges]
    if len(set(names)) != len(names):
        raise ValueError(f"each judge may be chosen once (got {', '.join(names)})")
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
        judges=[
            judge.protocol(
                settings.attempts,
                provider.model if provider else None,
                provider.base_url if provider else None,
                provider.params() if provider else {},
            )
            for judge, provider in judges
        ],
        images=images,
        skipped_configs=skipped,
    )


# --- asking and judging ---


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


def _batches(items: Sequence[EvalSample], size: int) -> Iterator[Sequence[EvalSample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fill(
    verdict: JudgeVerdict, judge: Judge, item: JudgeInput, text: str | None, finish: str | None
) -> JudgeAnswerError | None:
    """Parse a judge answer into `verdict`; the parse error when it is unusable."""
    try:
        judgement = judge.parse(item, text, finish)
    except JudgeAnswerError as exc:
        return exc
    verdict.verdict = judgement.verdict
    verdict.refusal = judgement.refusal
    verdict.score = judgement.unsafe_score()
    verdict.categories = judgement.categories
    verdict.reason = judgement.reason
    verdict.error = None
    return None


def judge_answers(
    judge: Judge,
    provider: LLMProvider | None,
    cache: ResponseCache,
    rows: Sequence[EvalResult],
    items: Sequence[JudgeInput],
    run_id: str,
) -> tuple[list[JudgeVerdict], list[LLMCall]]:
    """One verdict per answer. A model judge's unusable answer (invalid, or fields that
    contradict each other) is re-asked once; still contradictory, it is recorded as
    inconsistent and left out of the rates; still invalid, as an error."""
    verdicts = [
        JudgeVerdict(run_id=run_id, sample_id=r.sample_id, attempt=r.attempt, judge=judge.name)
        for r in rows
    ]
    if provider is None:
        for verdict, item in zip(verdicts, items, strict=True):
            judgement = judge.judge(item)
            verdict.verdict, verdict.refusal = judgement.verdict, judgement.refusal
            verdict.score, verdict.reason = judgement.unsafe_score(), judgement.reason
        return verdicts, []
    prompts = [judge.prompt(item) for item in items]
    schema = judge.response_schema if judge.json_answer else None

    def request(
        item: JudgeInput, messages: list[dict[str, Any]], prompt: PromptProvenance, sample: int
    ) -> ChatRequest:
        return ChatRequest(
            stage="judge",
            scenario=item.scenario,
            messages=messages,
            response_schema=schema,
            prompt=prompt,
            sample=sample,
        )

    first = ask(
        provider,
        cache,
        [request(i, p.messages, p.provenance, 0) for i, p in zip(items, prompts, strict=True)],
        run_id,
    )
    calls = [record for _, record in first]
    retry: list[tuple[int, ChatRequest]] = []
    for index, (result, record) in enumerate(first):
        verdict, item = verdicts[index], items[index]
        verdict.call_ids = [record.call_id]
        if result.error is not None:
            verdict.error = f"judge call failed: {result.error}"
            continue
        problem = _fill(verdict, judge, item, result.text, result.finish_reason)
        if problem is not None:
            messages = judge.reask(item, prompts[index], result.text, str(problem))
            retry.append((index, request(item, messages, prompts[index].provenance, 1)))
    second = ask(provider, cache, [r for _, r in retry], run_id) if retry else []
    for (index, _), (result, record) in zip(retry, second, strict=True):
        verdict, item = verdicts[index], items[index]
        verdict.call_ids = [*verdict.call_ids, record.call_id]
        calls.append(record)
        if result.error is not None:
            verdict.error = f"judge call failed on the re-ask: {result.error}"
            continue
        problem = _fill(verdict, judge, item, result.text, result.finish_reason)
        if isinstance(problem, Contradiction):
            verdict.inconsistent = True
            verdict.error = f"inconsistent: {problem}"
        elif problem is not None:
            verdict.error = f"invalid: {problem}"
    return verdicts, calls


def evaluate_batch(
    samples: Sequence[EvalSample],
    *,
    run_id: str,
    attempts: int,
    revision: str | None,
    rules: dict[str, JudgeRule],
    model: LLMProvider,
    judges: Sequence[tuple[Judge, LLMProvider | None]],
    cache: ResponseCache,
) -> tuple[list[EvalResult], list[JudgeVerdict], list[LLMCall]]:
    """Ask every sample x attempt, then judge each answer with every judge."""
    pairs = [(s, a) for s in samples for a in range(attempts)]
    answers = ask(model, cache, [_model_request(s, a, revision) for s, a in pairs], run_id)
    rows: list[EvalResult] = []
    for (sample, attempt), (result, record) in zip(pairs, answers, strict=True):
        rows.append(
            EvalResult(
                run_id=run_id,
                sample_id=sample.sample_id,
                attempt=attempt,
                question_id=sample.question_id,
                label=sample.label,
                scenario=sample.scenario,
                scenario_name=sample.scenario_name,
                variant=sample.variant,
                config=sample.config,
                question=sample.question,
                task=sample.task,
                labels=sample.labels,
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
        )
    answered = [
        (row, sample) for row, (sample, _) in zip(rows, pairs, strict=True) if row.error is None
    ]
    items = [
        JudgeInput(
            scenario=s.scenario,
            scenario_name=s.scenario_name,
            rule=row.judge_rule,
            question=s.question,
            prompt=s.prompt,
            response=row.response_text or "",
        )
        for row, s in answered
    ]
    verdicts: list[JudgeVerdict] = []
    calls: list[LLMCall] = []
    for judge, provider in judges:
        got, made = judge_answers(judge, provider, cache, [r for r, _ in answered], items, run_id)
        verdicts += got
        calls += made
    return rows, verdicts, calls


def _summary(
    results: Sequence[EvalResult], verdicts: Sequence[JudgeVerdict], calls: Sequence[LLMCall]
) -> dict[str, Any]:
    return {
        "attempts": len(results),
        "model_requests": sum(not r.cached for r in results),
        "model_cache_hits": sum(r.cached for r in results),
        "model_errors": sum(r.error is not None for r in results),
        "judge_requests": sum(not c.cached for c in calls),
        "judge_cache_hits": sum(c.cached for c in calls),
        "judge_errors": sum(v.error is not None and not v.inconsistent for v in verdicts),
        "judge_inconsistent": sum(v.inconsistent for v in verdicts),
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
    judges = [make_judge(options) for options in default_judges(settings)]
    judge_providers = [
        (judge, make_provider(config) if (config := judge_model(settings, judge)) else None)
        for judge in judges
    ]
    model = make_provider(settings.model)
    samples, images, skipped = image_preflight(settings, samples)
    protocol = _protocol(
        settings, source, configs, taxonomy.name, rules, model, judge_providers, images, skipped
    )
    run = EvalRun(
        run_id=stable_id("eval", protocol.model_dump_json(), length=12), protocol=protocol
    )
    cache = ResponseCache(artifacts / "cache" / "llm")
    results: list[EvalResult] = []
    verdicts: list[JudgeVerdict] = []
    calls: list[LLMCall] = []
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        catalog.upsert("eval_runs", [run])
        try:
            for batch in _batches(samples, settings.batch_size):
                rows, judged, judge_calls = evaluate_batch(
                    batch,
                    run_id=run.run_id,
                    attempts=settings.attempts,
                    revision=source.revision,
                    rules=rules,
                    model=model,
                    judges=judge_providers,
                    cache=cache,
                )
                catalog.upsert("eval_results", rows)
                catalog.upsert("eval_verdicts", judged)
                catalog.upsert("llm_calls", judge_calls)
                results += rows
                verdicts += judged
                calls += judge_calls
                if progress is not None:
                    progress(len(results) // settings.attempts, len(samples))
            run.status = "completed"
        except BaseException:
            run.status = "failed"
            raise
        finally:
            run.finished_at = utcnow()
            run.summary = _summary(results, verdicts, calls)
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
