"""The `build_benchmark` Prefect flow: plan -> questions -> key phrases -> images -> review -> publish.

Tasks take plain data and paths and return records; the flow alone writes the catalog. Every
stage is cached by content (LLM answers by request hash, images by render inputs), so re-running
the same config makes no LLM call and draws nothing, and a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE
from rich.console import Console

from annotation.rules import review_samples
from catalog import Catalog
from catalog.publish import publish_run
from flows.artifacts_lock import artifacts_lock
from flows.artifacts_store import ArtifactStore
from flows.assemble import build_samples, sample_fields
from flows.collection_stage import add_to_summary, collection_stage
from flows.cpu import choose_workers
from flows.derive_stage import DerivedFields, derive_fields, derive_stage
from flows.import_stage import import_stage
from flows.limits import GPU_LIMIT, ensure_limits, paced
from flows.line import GENERATION_KEY, LineStart, line_start
from flows.ocr_stage import ReadBack, read_back_check
from flows.preflight import select_scenarios
from flows.probe_stage import offline_variety_warning, probe_stage
from flows.review_stage import Rerender, ReviewOutcome, review_in_label_studio
from flows.run_report import publish_run_artifacts
from flows.runners import started_task_runner
from flows.variant_images import ImageStageResult, advance, make_variant_images, progress_bar
from generators.extraction import ExtractionResult, extract_key_phrases
from generators.leakage import LeakResult, apply_leakage, judge_leakage
from generators.llm_cache import ResponseCache
from generators.llm_summary import llm_yield_section, summarize_llm
from generators.providers import make_fallbacks, make_provider
from generators.questions import EarlierQuestions, QuestionsResult, generate_questions
from generators.twins import twin_extractions
from schemas.config import AUTO_VERSION, BuildConfig
from schemas.records import (
    Extraction,
    ImageRecord,
    LLMCall,
    ReleaseRecord,
    ReviewDecision,
    RunRecord,
    Sample,
    Scenario,
    is_transient,
)
from schemas.tasks import REFUSAL
from schemas.variants import VariantSpec

console = Console(stderr=True)
STAGE = {"cache_policy": NO_CACHE, "persist_result": False}


def make_run_id(config: BuildConfig, taken: Callable[[str], bool]) -> str:
    """Start time and config hash; `-2`, `-3`... when `taken` (two runs of one config can start
    within the same second, e.g. a run that waited for the lock right after an idle one)."""
    base = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{config_sha256(config)[:8]}"
    run_id, n = base, 1
    while taken(run_id):
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def config_sha256(config: BuildConfig) -> str:
    return hashlib.sha256(
        json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()


@task(name="plan", **STAGE)
def plan_scenarios(config: BuildConfig) -> list[Scenario]:
    return select_scenarios(config)


@task(name="questions", **STAGE)
def questions_stage(
    config: BuildConfig,
    scenarios: list[Scenario],
    artifacts: Path,
    run_id: str,
    target: int,
    earlier: EarlierQuestions | None = None,
) -> QuestionsResult:
    """`target` new questions per scenario, on top of the `earlier` ones of a growing benchmark."""
    provider = paced(make_provider(config.llm), config.llm)
    cache = ResponseCache(artifacts / "cache" / "llm")
    per_scenario = -(-target // config.llm.questions_per_request)
    with progress_bar() as progress:
        # Later rounds (after duplicates) can add requests beyond this first estimate.
        bar = progress.add_task(
            f"Questions ({provider.model})", total=len(scenarios) * per_scenario
        )
        return generate_questions(
            provider,
            cache,
            scenarios,
            target,
            config.llm,
            run_id,
            progress=lambda n: advance(progress, bar, n),
            earlier=earlier,
            fallbacks=make_fallbacks(config.llm),
        )


@task(name="key_phrases", **STAGE)
def extraction_stage(
    config: BuildConfig,
    questions: QuestionsResult,
    scenarios: list[Scenario],
    artifacts: Path,
    run_id: str,
    earlier: list[Extraction],
) -> ExtractionResult:
    """Key phrases of the accepted new questions; `earlier` records (a growing benchmark's kept
    ones) count for the near-duplicate key-phrase rule."""
    provider = paced(make_provider(config.llm), config.llm)
    cache = ResponseCache(artifacts / "cache" / "llm")
    accepted = [q for q in questions.questions if q.status == "accepted"]
    with progress_bar() as progress:
        bar = progress.add_task(f"Key phrases ({provider.model})", total=len(accepted))
        return extract_key_phrases(
            provider,
            cache,
            accepted,
            {s.slug: s for s in scenarios},
            run_id,
            progress=lambda n: progress.advance(bar, n),
            earlier=earlier,
            fallbacks=make_fallbacks(config.llm),
        )


@task(name="text_leakage", **STAGE)
def leakage_stage(
    config: BuildConfig, samples: list[Sample], artifacts: Path, run_id: str
) -> LeakResult:
    """The leakage judge on every sample's prompt alone (benign twins excepted)."""
    provider = paced(make_provider(config.llm), config.llm)
    cache = ResponseCache(artifacts / "cache" / "llm")
    judged = sum(s.twin_of is None for s in samples)
    with progress_bar() as progress:
        bar = progress.add_task(f"Text leakage ({provider.model})", total=judged)
        return judge_leakage(
            provider, cache, samples, run_id, progress=lambda n: progress.advance(bar, n)
        )


@task(name="auto_review", **STAGE)
def review_stage(
    samples: list[Sample],
    extractions: list[Extraction],
    image_errors: dict[str, str],
    ocr_errors: dict[str, str],
    specs: dict[str, VariantSpec],
    reject_text_leak: bool = False,
) -> list[ReviewDecision]:
    return review_samples(
        samples,
        {e.question_id: e for e in extractions},
        specs,
        image_errors,
        ocr_errors,
        reject_text_leak=reject_text_leak,
    )


def start_read_back(
    config: BuildConfig,
    extractions: list[Extraction],
    derived: dict[tuple[str, str], dict[str, str]],
    artifacts: Path,
    catalog_path: Path,
    workers: int,
) -> ReadBack:
    """The read-back checks of this run, ready to take images as they are drawn; images
    checked by an earlier run (same render inputs, same image id) are not read again."""
    by_question = {e.question_id: e for e in extractions}
    specs = config.specs()

    def check_for(question_id: str, variant: str):
        extraction = by_question.get(question_id)
        if extraction is None:
            return None
        fields = sample_fields(extraction, derived.get((question_id, variant)))
        return read_back_check(specs.get(variant), fields)

    with Catalog(catalog_path) as catalog:
        known = {c.image_id: c for c in catalog.records("ocr_checks")}
    return ReadBack(check_for, specs, artifacts, known, config.review.ocr_engine, workers)


@task(name="ocr_check", **STAGE)
def ocr_stage(
    config: BuildConfig,
    read_back: ReadBack,
    samples: list[Sample],
    images: dict[str, ImageRecord],
    catalog_path: Path,
) -> dict[str, str]:
    """Wait for the read-back checks started during the image stage (and check what they did
    not get: images fetched from a shared store, collection images); record them; return
    failures."""
    read_back.submit_samples(samples, images)
    with console.status(f"Read-back checks of {read_back.submitted} images"):
        fresh, failures = read_back.results(samples, config.review.max_cer)
    with Catalog(catalog_path) as catalog:
        catalog.upsert("ocr_checks", fresh)
    return failures


def _scenario_names(scenarios: list[Scenario]) -> dict[str, str]:
    return {s.slug: s.name for s in scenarios}


@dataclass
class PublishOutcome:
    release: ReleaseRecord | None
    path: Path
    # "published" | "unchanged" | "empty" | "pending_review" | "incomplete" | "empty_scenarios"
    status: str
    version: str | None = None  # published, or the existing version holding the same content
    previous_version: str | None = None  # what `changes` compare with
    # Per scenario x variant: {"scenario", "variant", "added", "removed", "changed"} counts.
    changes: list[dict[str, Any]] = field(default_factory=list)


def unpublished(config: BuildConfig, artifacts: Path, status: str) -> PublishOutcome:
    """No release: where it would have gone (the release's folder when the version is auto)."""
    folder = artifacts / "releases" / config.release.name
    version = config.release.version
    return PublishOutcome(None, folder if version == AUTO_VERSION else folder / version, status)


@task(name="publish", **STAGE)
def publish_stage(
    config: BuildConfig, samples: list[Sample], artifacts: Path, run_id: str
) -> PublishOutcome:
    """Release the run's accepted samples as recorded in the catalog (the same path as
    `safetyforge publish --run`); identical content under an existing version is a no-op, and
    so is content equal to the newest release when the version is auto."""
    if not any(s.status == "accepted" and s.twin_of is None for s in samples):
        return unpublished(config, artifacts, "empty")
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        result = publish_run(catalog, run_id, releases_dir=artifacts / "releases")
    changes = [
        {
            "scenario": c.scenario,
            "variant": c.variant,
            "added": len(c.added),
            "removed": len(c.removed),
            "changed": len(c.changed),
        }
        for c in result.changes
    ]
    return PublishOutcome(
        result.release,
        Path(result.path),
        result.status,
        result.version,
        result.previous_version,
        changes,
    )


def rejection_group(reason: str) -> str:
    """The rule a reason names: its text before the first ":", " of " or " (" ("duplicate of
    q-1" -> "duplicate", "ungrounded: key phrase ..." -> "ungrounded")."""
    return re.split(r":| of | \(", reason, maxsplit=1)[0].strip() or "unknown"


def group_rejections(
    rejected: list[tuple[str, str]],
) -> tuple[dict[str, int], dict[str, str]]:
    """("<stage>: <rule>" -> count, most frequent first; the same keys -> the first reason)."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for stage, reason in rejected:
        group = f"{stage}: {rejection_group(reason)}"
        counts[group] += 1
        examples.setdefault(group, reason)
    ordered = dict(counts.most_common())
    return ordered, {group: examples[group] for group in ordered}


def empty_scenarios(expected: list[str], samples: list[Sample]) -> list[str]:
    """The expected scenarios without one accepted sample, in order."""
    filled = {s.scenario for s in samples if s.status == "accepted"}
    return [slug for slug in expected if slug not in filled]


def unanswered_summary(calls: list[LLMCall]) -> dict[str, Any]:
    """LLM requests that never got an answer, per stage, with one error as an example."""
    return {
        "count": len(calls),
        "by_stage": dict(Counter(c.stage for c in calls).most_common()),
        "example": calls[0].error if calls else None,
    }


def _apply_decisions(samples: list[Sample], decisions: list[ReviewDecision]) -> None:
    verdict = {d.sample_id: d.decision for d in decisions}
    for sample in samples:
        sample.status = "accepted" if verdict.get(sample.sample_id) == "accept" else "rejected"


def _summary(
    run_id: str,
    line: LineStart,
    questions: QuestionsResult,
    extractions: list[Extraction],
    samples: list[Sample],
    decisions: list[ReviewDecision],
    images: ImageStageResult,
    publish: PublishOutcome,
    review: ReviewOutcome | None,
    skipped_variants: list[str],
    calls: list[LLMCall],
) -> dict[str, Any]:
    """The run's figures. Rejections count this run's new questions and key phrases (kept ones
    were counted by the run that asked them) and every sample's standing decision."""
    llm = summarize_llm(calls)
    rejected: list[tuple[str, str]] = []  # (stage, reason)
    rejected += [
        ("question", q.reject_reason or "") for q in questions.questions if q.status == "rejected"
    ]
    rejected += [("question request", reason) for _, reason in questions.failures]
    kept = {e.question_id for e in line.extractions}
    rejected += [
        ("key phrase", e.reject_reason or "")
        for e in extractions
        if e.status == "rejected" and e.question_id not in kept
    ]
    twins = [s for s in samples if s.twin_of is not None]
    twin_ids = {s.sample_id for s in twins}
    rejected += [
        ("twin sample" if d.sample_id in twin_ids else "sample", d.reason or "")
        for d in decisions
        if d.decision == "reject"
    ]
    rejections, examples = group_rejections(rejected)
    # The benchmark's own samples; benign twins are counted apart.
    bench = [s for s in samples if s.twin_of is None]
    counts = Counter((s.scenario, s.variant) for s in bench if s.status == "accepted")
    leakage: dict[str, dict[str, int]] = {}
    for s in bench:
        if s.text_leak is not None:
            cell = leakage.setdefault(s.variant, {"judged": 0, "leaked": 0})
            cell["judged"] += 1
            cell["leaked"] += s.text_leak
    new_questions = sum(q.status == "accepted" for q in questions.questions)
    # Annotators decided something since the previous run (counted over the whole project).
    decided = review is not None and review.decisions != (
        line.previous_summary.get("review") or {}
    ).get("annotator_decisions")
    return {
        "run_id": run_id,
        "previous_run": line.previous_run,
        "questions_accepted": len(line.questions) + new_questions,
        "questions_kept": len(line.questions),
        "questions_new": new_questions,
        "key_phrases_accepted": sum(e.status == "accepted" for e in extractions),
        "samples_accepted": sum(s.status == "accepted" for s in bench),
        "samples_rejected": sum(s.status == "rejected" for s in bench),
        "samples_pending": sum(s.status == "pending" for s in bench),
        # Benign twins (the `contrast` config): questions with one, and their samples' standing.
        "twin_questions": len({s.twin_of for s in twins}),
        "twin_samples_accepted": sum(s.status == "accepted" for s in twins),
        "twin_samples_rejected": sum(s.status == "rejected" for s in twins),
        # Per variant: samples the leakage judge read, and those whose prompt alone leaks.
        "text_leakage": leakage,
        "shortfall": questions.shortfall,
        "llm_requests": llm.requests,
        "llm_cache_hits": llm.cache_hits,
        "llm_retries": llm.retries,
        "llm_errors": llm.errors,
        "llm_latency_p50_s": llm.latency_p50_s,
        "llm_latency_p95_s": llm.latency_p95_s,
        "tokens_in": llm.tokens_in,
        "tokens_out": llm.tokens_out,
        "images_drawn": images.drawn,
        "images_reused": images.reused,
        "rejections": rejections,
        "rejection_examples": examples,
        # Insertion order: taxonomy order of scenarios, config order of variants.
        "counts": {f"{s}/{v}": n for (s, v), n in counts.items()},
        "skipped_variants": skipped_variants,
        "review": None
        if review is None
        else {
            "tasks_pushed": review.pushed,
            "annotator_decisions": review.decisions,
            "corrected_key_phrases": review.corrected,
            "samples_pending": review.pending,
        },
        "release_status": publish.status,
        "release_path": str(publish.path),
        "release_version": publish.version,
        "release_previous": publish.previous_version,
        "release_changes": publish.changes,
        # Nothing asked, drawn, pushed, decided or published: the benchmark stands still.
        "nothing_new": publish.status != "published"
        and new_questions == 0
        and images.drawn == 0
        and (review is None or (review.pushed == 0 and not decided)),
        # Where the next run of a growing benchmark continues (flows.line).
        GENERATION_KEY: {"next_round": questions.next_round, "requests": questions.requests},
    }


@flow(name="build_benchmark", log_prints=False, validate_parameters=False)
def build_benchmark(config: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """Build a benchmark from a resolved config (a BuildConfig as a dict) and publish it locally.

    The run holds the artifacts folder's lock from start to end: a second run on the same
    folder (another schedule, a manual build) waits for it, then starts from its results.
    """
    cfg = BuildConfig.model_validate(config)
    artifacts = Path(cfg.artifacts_dir).resolve()
    catalog_path = artifacts / "catalog.duckdb"
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    logger = get_run_logger()
    with artifacts_lock(artifacts, f"build run {run_id or cfg.name}", say=logger.warning) as waited:
        # The id is made inside the lock: runs that waited for it must not reuse a finished
        # run's id (same config, same second), which would overwrite its record.
        with Catalog(catalog_path) as catalog:
            run_id = run_id or make_run_id(
                cfg, lambda r: bool(catalog.records("runs", "run_id = ?", [r]))
            )
        run = RunRecord(
            run_id=run_id,
            name=cfg.name,
            config=cfg.model_dump(mode="json"),
            config_sha256=config_sha256(cfg),
            flow_run_id=flow_run_id,
        )
        with Catalog(catalog_path) as catalog:
            catalog.upsert("runs", [run])
        try:
            summary = _build(cfg, artifacts, run_id, catalog_path)
        except BaseException:
            with Catalog(catalog_path) as catalog:
                run.status, run.finished_at = "failed", datetime.now(UTC)
                catalog.upsert("runs", [run])
            raise
        summary["lock_wait_s"] = round(waited, 1)
        with Catalog(catalog_path) as catalog:
            run.status, run.finished_at, run.summary = "completed", datetime.now(UTC), summary
            catalog.upsert("runs", [run])
    publish_run_artifacts(summary, run.flow_run_id)
    return summary


def make_images(
    cfg: BuildConfig,
    extractions: list[Extraction],
    specs: list[VariantSpec],
    artifacts: Path,
    limits: list[str],
    derived: DerivedFields,
    collection: list[ImageRecord],
    read_back: ReadBack | None = None,
) -> ImageStageResult:
    """Every image the variants' recipes need for `extractions`, on the configured runner;
    `read_back` gets each sample's images as they are drawn (a local store only: images put to
    a shared store are checked once fetched)."""
    store = ArtifactStore.from_config(cfg.runner)
    feed = read_back.submit if read_back is not None and not store.shared else None
    with started_task_runner(cfg.runner, artifacts) as runner:
        gpu_limit = GPU_LIMIT if GPU_LIMIT in limits else None
        images = make_variant_images(
            cfg,
            extractions,
            specs,
            artifacts,
            runner,
            gpu_limit,
            derived.usable(),
            collection,
            feed,
        )
    # Review and publish read local files: bring what workers put to a shared store here.
    store.fetch(artifacts, images.images.values())
    return images


def _rerender(
    cfg: BuildConfig,
    fixed: list[Extraction],
    specs: list[VariantSpec],
    artifacts: Path,
    limits: list[str],
    run_id: str,
    collection: list[ImageRecord],
) -> tuple[list[Sample], dict[str, ImageRecord]]:
    """Derived text, images and samples again for key phrases corrected in review (sample ids
    unchanged)."""
    derived = derive_fields(cfg, fixed, specs, artifacts, run_id)
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        catalog.upsert("llm_calls", derived.calls)
        catalog.upsert("derivations", derived.records, run_id)
    fresh = make_images(cfg, fixed, specs, artifacts, limits, derived, collection)
    samples = build_samples(fixed, specs, fresh.by_key, cfg.render.fidelity, derived.fields)
    return samples, fresh.images


def _human_review(
    cfg: BuildConfig,
    run_id: str,
    samples: list[Sample],
    images: ImageStageResult,
    extractions: list[Extraction],
    decisions: list[ReviewDecision],
    scenarios: list[Scenario],
    catalog_path: Path,
    rerender: Rerender,
) -> ReviewOutcome:
    """Label Studio review; records corrected key phrases, new images and final statuses."""
    accepted = [e for e in extractions if e.status == "accepted"]
    outcome = review_in_label_studio(
        cfg,
        run_id,
        samples,
        images.images,
        accepted,
        decisions,
        _scenario_names(scenarios),
        catalog_path,
        rerender,
        console,
    )
    images.images.update(outcome.images)
    corrected = {e.question_id: e for e in outcome.extractions}
    with Catalog(catalog_path) as catalog:
        catalog.upsert("images", list(images.images.values()))
        catalog.replace_run_rows("samples", run_id, outcome.samples)
        catalog.replace_run_rows(
            "extractions", run_id, [corrected.get(e.question_id, e) for e in extractions]
        )
    return outcome


def _check_images(
    cfg: BuildConfig,
    accepted: list[Extraction],
    grounded: Any,
    specs: list[VariantSpec],
    images: ImageStageResult,
    derived: DerivedFields,
    read_back: ReadBack | None,
    catalog_path: Path,
) -> tuple[list[Sample], dict[str, str], dict[str, str]]:
    """The samples of the drawn images, their image errors and their read-back failures."""
    samples = build_samples(accepted, specs, images.by_key, cfg.render.fidelity, derived.fields)
    failures = {**images.errors, **derived.errors}
    image_errors = {
        s.sample_id: failures[key]
        for s in samples
        if (key := (s.question_id, s.variant)) in failures
    }
    samples += grounded.samples
    images.images.update(grounded.images)
    ocr_errors = (
        {} if read_back is None else ocr_stage(cfg, read_back, samples, images.images, catalog_path)
    )
    return samples, image_errors, ocr_errors


class StageClock:
    """Wall seconds per stage, for the run summary (`stage_s`): each lap is the time since the
    previous one."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self._last, 2)
        self._last = now


def _build(cfg: BuildConfig, artifacts: Path, run_id: str, catalog_path: Path) -> dict[str, Any]:
    clock = StageClock()
    limits = ensure_limits(cfg)  # shared with other runs when a Prefect server is configured
    scenarios = plan_scenarios(cfg)
    cfg, probe = probe_stage(cfg, artifacts)
    if probe is not None:
        for line in probe.lines():
            console.print(line, markup=False, highlight=False)
    # Variants whose questions are written about collection images come from that stage.
    specs = [s for s in cfg.chosen_specs() if s.question_source == "taxonomy"]
    # A build of collection variants only asks for no taxonomy questions.
    asked = scenarios if specs else []
    with Catalog(catalog_path) as catalog:
        line = line_start(catalog, cfg, asked)
    if cfg.questions_from is not None:  # a published file's questions: the LLM fills gaps only
        questions, fresh = import_stage(cfg, asked, specs, artifacts, run_id)
    else:
        target = cfg.questions_per_scenario
        if cfg.grow is not None and not line.first:
            target = cfg.grow.per_scenario
            console.print(
                f"Growing {cfg.release.name} from run {line.previous_run}: "
                f"{len(line.questions)} question(s) kept, {target} new per scenario asked"
            )
        warning = offline_variety_warning(cfg, asked, target)
        if warning is not None:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        questions = questions_stage(cfg, asked, artifacts, run_id, target, line.earlier)
        fresh = extraction_stage(cfg, questions, asked, artifacts, run_id, line.extractions)
    extractions = line.extractions + fresh.extractions
    grounded = collection_stage(cfg, scenarios, artifacts, run_id)
    with Catalog(catalog_path) as catalog:
        all_calls = questions.calls + fresh.calls + grounded.calls
        catalog.upsert("llm_calls", all_calls)
        catalog.replace_run_rows(
            "questions", run_id, line.questions + questions.questions + grounded.questions
        )
        catalog.replace_run_rows("extractions", run_id, extractions + grounded.extractions)
    llm_section = llm_yield_section(
        {"questions": questions.yields, "key_phrases": fresh.yields},
        [questions.refusals, fresh.refusals],
        probe,
    )
    with Catalog(catalog_path) as catalog:
        # The card (written at publish, from the catalog's run row) states the yield and probe.
        run = catalog.run(run_id)
        catalog.upsert("runs", [run.model_copy(update={"summary": llm_section})])
    for scenario, missing in questions.shortfall.items():
        console.print(
            f"[yellow]warning:[/yellow] {scenario}: {missing} question(s) short of the target after {cfg.llm.max_rounds} rounds"
        )

    clock.lap("questions")
    # Benign twins go through the same variants as their sources (the `contrast` config).
    accepted = [e for e in extractions if e.status == "accepted"]
    accepted += twin_extractions(accepted)
    skipped = [s.name for s in specs if s.needs_image_model and not cfg.image_model.path]
    if skipped:
        console.print(
            f"[yellow]skipping {', '.join(skipped)}:[/yellow] no image model configured "
            "(set image_model.path to a diffusers model folder or hub id, e.g. "
            "--set image_model.path=stabilityai/sdxl-turbo)"
        )
        specs = [s for s in specs if s.name not in skipped]

    # Text the variants derive (encodings, LLM sub-questions, translations); a failed
    # derivation rejects that question's sample in those variants, with the reason.
    derived = derive_stage(cfg, accepted, specs, artifacts, run_id)
    with Catalog(catalog_path) as catalog:
        catalog.upsert("llm_calls", derived.calls)
        catalog.replace_run_rows("derivations", run_id, derived.records)
    all_calls += derived.calls
    collection = list(grounded.images.values())
    clock.lap("derive")
    # Render processes: as many as the CPUs other work leaves free (a pool on busy cores is
    # slower than fewer processes). Read-back threads: one per core; they cost nothing to start
    # and wait inside the OCR engine, so on busy cores they only take this run's fair share.
    workers = choose_workers(cfg.render.workers)
    render_cfg = cfg.model_copy(
        update={"render": cfg.render.model_copy(update={"workers": workers.workers})}
    )
    read_back = (
        start_read_back(
            cfg,
            accepted + grounded.extractions,
            derived.fields,
            artifacts,
            catalog_path,
            workers.cores,
        )
        if cfg.review.ocr_check
        else None
    )
    with read_back or contextlib.nullcontext():
        images = make_images(
            render_cfg, accepted, specs, artifacts, limits, derived, collection, read_back
        )
        clock.lap("images")  # read-back checks run meanwhile
        samples, image_errors, ocr_errors = _check_images(
            cfg, accepted, grounded, specs, images, derived, read_back, catalog_path
        )
        clock.lap("read_back")  # the checks still running when the last image was drawn
    # Leakage is a property of harmful requests: labelled tasks ask fixed questions.
    if cfg.review.leak_check and cfg.task == REFUSAL:
        leakage = leakage_stage(cfg, samples, artifacts, run_id)
        apply_leakage(samples, leakage.verdicts)
        with Catalog(catalog_path) as catalog:
            catalog.upsert("llm_calls", leakage.calls)
        all_calls += leakage.calls
        clock.lap("text_leakage")
    decisions = review_stage(
        samples,
        accepted + grounded.extractions,
        image_errors,
        ocr_errors,
        cfg.specs(),
        cfg.review.reject_text_leak,
    )
    _apply_decisions(samples, decisions)
    with Catalog(catalog_path) as catalog:
        catalog.upsert("images", list(images.images.values()))
        catalog.replace_run_rows("samples", run_id, samples)
        catalog.replace_run_rows("reviews", run_id, decisions)

    clock.lap("review")
    review = None
    if cfg.review.mode == "label-studio":
        review = _human_review(
            cfg,
            run_id,
            samples,
            images,
            extractions + grounded.extractions,
            decisions,
            scenarios,
            catalog_path,
            lambda fixed: _rerender(cfg, fixed, specs, artifacts, limits, run_id, collection),
        )
        samples = review.samples
    unanswered = [c for c in all_calls if is_transient(c.error)]
    expected = (
        [s.slug for s in asked]
        if cfg.questions_from is None
        else list(dict.fromkeys(q.scenario for q in questions.questions))
    )
    empty = empty_scenarios(expected, samples)
    if review is not None and not review.complete and cfg.review.wait:
        publish = unpublished(cfg, artifacts, "pending_review")
    elif unanswered and not cfg.release.allow_incomplete:
        # A partial release would look complete; the re-run asks exactly what is missing.
        publish = unpublished(cfg, artifacts, "incomplete")
    elif empty and len(empty) < len(expected) and not cfg.release.allow_empty_scenarios:
        publish = unpublished(cfg, artifacts, "empty_scenarios")
    else:
        # One review pass (review.wait false) publishes what humans accepted so far.
        publish = publish_stage(cfg, samples, artifacts, run_id)
        if publish.status == "empty" and review is not None and review.pending:
            publish = unpublished(cfg, artifacts, "pending_review")
    clock.lap("publish")
    summary = llm_section | _summary(
        run_id,
        line,
        questions,
        extractions,
        samples,
        decisions,
        images,
        publish,
        review,
        skipped,
        all_calls,
    )
    summary["workers"] = workers.model_dump()
    summary["stage_s"] = clock.laps
    summary["scenarios"] = expected
    summary["empty_scenarios"] = empty
    summary["unanswered"] = unanswered_summary(unanswered)
    return add_to_summary(summary, grounded)
