"""The collection stage of `build_benchmark`: import existing images, write grounded questions about
them, and pair each accepted question with its image as a `natural` sample.

Its records join the flow's others: questions, key-phrase records (the term that grounds each
question) and LLM calls go to the catalog, samples through the same review and publish.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from rich.console import Console

from flows.assemble import make_sample
from flows.limits import paced
from generators.collection import CollectionError, import_collection
from generators.grounded import assign_scenarios, generate_grounded_questions
from generators.llm_cache import ResponseCache
from generators.providers import make_provider
from generators.tasks import TASK_BUILDERS, sample_per_label, task_questions
from schemas.config import BuildConfig, ConfigError
from schemas.records import (
    Extraction,
    ImageRecord,
    LLMCall,
    Question,
    Sample,
    Scenario,
)
from schemas.tasks import REFUSAL
from schemas.variants import VariantSpec

console = Console(stderr=True)


@dataclass
class CollectionStageResult:
    ran: bool = False  # False: the config has no collection variant
    images: dict[str, ImageRecord] = field(default_factory=dict)
    questions: list[Question] = field(default_factory=list)  # accepted and rejected
    extractions: list[Extraction] = field(default_factory=list)  # accepted questions only
    samples: list[Sample] = field(default_factory=list)
    calls: list[LLMCall] = field(default_factory=list)
    imported: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (original id, reason)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (image, scenario, why)


def natural_samples(
    extractions: list[Extraction], image_of: dict[str, str], spec: VariantSpec, fidelity: str
) -> list[Sample]:
    """One sample per grounded question: its source image and the spec's prompt."""
    return [make_sample(e, spec, [image_of[e.question_id]], fidelity) for e in extractions]


@task(name="collection", cache_policy=NO_CACHE, persist_result=False)
def collection_stage(
    config: BuildConfig, scenarios: list[Scenario], artifacts: Path, run_id: str
) -> CollectionStageResult:
    """Nothing to do (an empty result) unless a chosen variant uses the collection; questions
    are written only for the variants whose questions come from it (natural)."""
    collection = config.collection
    chosen = [s for s in config.chosen_specs() if s.question_source == "collection"]
    if collection is None or not any(s.needs_collection for s in config.chosen_specs()):
        return CollectionStageResult()
    try:
        with console.status("Importing the image collection"):
            imported = import_collection(collection, artifacts, config.task != REFUSAL)
    except CollectionError as exc:
        raise ConfigError(str(exc)) from None
    for original, reason in imported.skipped:
        console.print(f"[yellow]collection:[/yellow] skipped {original}: {reason}")
    if imported.unmatched_metadata:
        console.print(
            f"[yellow]collection:[/yellow] {len(imported.unmatched_metadata)} metadata entries "
            f"name no image file (e.g. {imported.unmatched_metadata[0]})"
        )
    if not chosen:  # the images are recipe inputs only (e.g. distractor tiles)
        return CollectionStageResult(
            ran=True,
            images={i.image_id: i for i in imported.images},
            imported=imported.imported,
            reused=imported.reused,
            skipped=imported.skipped,
        )
    if config.task != REFUSAL:  # fixed questions per label, no LLM
        builder = TASK_BUILDERS[config.task]
        images = sample_per_label(
            imported.images, builder, collection.sample_per_label, config.seed
        )
        asked = task_questions(images, builder, scenarios)
        return _with_questions(images, asked, [], chosen, config, imported)
    pairs = assign_scenarios(imported.images, scenarios, collection.scenarios_per_image)
    provider = paced(make_provider(config.llm), config.llm)
    cache = ResponseCache(artifacts / "cache" / "llm")
    with console.status(f"Writing grounded questions for {len(imported.images)} images"):
        grounded = generate_grounded_questions(
            provider,
            cache,
            pairs,
            collection.questions_per_image,
            config.llm.vision,
            artifacts,
            run_id,
        )
    return _with_questions(imported.images, grounded, grounded.calls, chosen, config, imported)


def _with_questions(
    images: list[ImageRecord],
    asked: Any,  # task or grounded questions: questions, extractions, image_of, failures
    calls: list[LLMCall],
    chosen: list[VariantSpec],
    config: BuildConfig,
    imported: Any,
) -> CollectionStageResult:
    """The stage's result once questions are written about `images`: one sample per accepted
    question and chosen variant."""
    return CollectionStageResult(
        ran=True,
        images={i.image_id: i for i in images},
        questions=asked.questions,
        extractions=asked.extractions,
        samples=[
            sample
            for spec in chosen
            for sample in natural_samples(
                asked.extractions, asked.image_of, spec, config.render.fidelity
            )
        ],
        calls=calls,
        imported=imported.imported,
        reused=imported.reused,
        skipped=imported.skipped,
        failures=asked.failures,
    )


def add_to_summary(summary: dict[str, Any], result: CollectionStageResult) -> dict[str, Any]:
    """The run summary with the collection stage's images and rejections counted in (its LLM
    calls are in the summary's LLM figures already)."""
    if not result.ran:
        return summary
    rejections: Counter[str] = Counter(summary["rejections"])
    for question in result.questions:
        if question.status == "rejected":
            reason = (question.reject_reason or "").split(":")[0]
            rejections[f"grounded question: {reason}"] += 1
    for _image, _scenario, reason in result.failures:
        rejections[f"grounded request: {reason}"] += 1
    return summary | {
        "questions_accepted": summary["questions_accepted"] + len(result.extractions),
        "rejections": dict(rejections.most_common()),
        "collection_images": len(result.images),
        "collection_imported": result.imported,
        "collection_reused": result.reused,
        "collection_skipped": len(result.skipped),
        "grounded_questions_accepted": len(result.extractions),
        "grounded_questions_rejected": sum(q.status == "rejected" for q in result.questions),
    }
