"""The image stage for any variant spec: resolve every sample's recipe, make the source images
it names (Stable Diffusion), run the recipes over the task runner, and map images back.

Nothing here knows a variant by name: a spec's steps say what to make. Recipes that are one
source step alone (the `sd` variant) use the source image as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.task_runners import TaskRunner
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from flows.assemble import recipe_context, sample_fields
from flows.image_tasks import generate_all, render_all
from schemas.config import BuildConfig, ConfigError
from schemas.records import Extraction, ImageRecord
from schemas.variants import SOURCE_OPS, VariantSpec, resolve_steps

console = Console(stderr=True)
SampleKey = tuple[str, str]  # (question id, variant)


@dataclass
class ImageStageResult:
    images: dict[str, ImageRecord] = field(default_factory=dict)
    by_key: dict[SampleKey, list[str]] = field(default_factory=dict)
    errors: dict[SampleKey, str] = field(default_factory=dict)
    drawn: int = 0
    reused: int = 0

    def absorb(self, other: ImageStageResult) -> None:
        self.images.update(other.images)
        self.by_key.update(other.by_key)
        self.errors.update(other.errors)
        self.drawn += other.drawn
        self.reused += other.reused


@dataclass
class Recipe:
    """One sample's resolved steps and the source images they take, in step order: an SD
    subject to generate, or a collection image already imported."""

    key: SampleKey
    spec: VariantSpec
    steps: list[dict[str, Any]]
    sources: list[tuple[str, str | ImageRecord]]

    @property
    def sd_subjects(self) -> list[str]:
        return [str(value) for kind, value in self.sources if kind == "sd"]


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def advance(progress: Progress, bar: TaskID, n: int) -> None:
    """Advance `bar` by n, raising its total first when the work outgrew the first estimate
    (more question rounds after duplicates): a bar never shows more done than its total."""
    task = progress.tasks[progress.task_ids.index(bar)]
    if task.total is not None and task.completed + n > task.total:
        progress.update(bar, total=task.completed + n)
    progress.advance(bar, n)


def recipe_steps(
    config: BuildConfig, spec: VariantSpec, fields: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A spec's steps for one sample's text fields: references filled, and text steps carrying
    the build's own presets and fonts. Raises KeyError naming a field or setting it lacks."""
    from typography import bind_user_typography

    return [
        bind_user_typography(step, config.render.presets, config.render.fonts)
        for step in resolve_steps(spec, fields, recipe_context(config, spec))
    ]


def encoding_of(config: BuildConfig):
    from typography import Encoding

    return Encoding(
        format=config.render.image_format,
        color="rgb" if config.render.rgb else "keep",
        compress_level=config.render.png_compress_level,
        jpeg_quality=config.render.jpeg_quality,
    )


def render_job(
    config: BuildConfig,
    spec: VariantSpec,
    fields: Mapping[str, Any],
    inputs: Sequence[ImageRecord] = (),
):
    """The render job of one sample (its recipe over its source images), as the build makes
    it; benchmarks and `preview` use it too."""
    from typography import RenderJob

    return RenderJob(
        kind=spec.name,
        steps=recipe_steps(config, spec, fields),
        inputs=list(inputs),
        encoding=encoding_of(config),
    )


def resolve_recipes(
    config: BuildConfig,
    extractions: Sequence[Extraction],
    specs: Sequence[VariantSpec],
    derived: Mapping[SampleKey, Mapping[str, Any]],
    collection: Sequence[ImageRecord] = (),
) -> tuple[list[Recipe], dict[SampleKey, str]]:
    """Every (question, image variant) recipe with its references filled and its collection
    images picked; a sample whose recipe cannot be resolved (a derived field is missing, the
    collection is too small) gets an error instead."""
    from generators.collection_pick import PickError, pick_images

    recipes, errors = [], {}
    for spec in specs:
        if spec.yields == "none" or spec.question_source != "taxonomy":
            continue
        for extraction in extractions:
            key = (extraction.question_id, spec.name)
            fields = sample_fields(extraction, derived.get(key))
            try:
                steps = recipe_steps(config, spec, fields)
            except KeyError as exc:
                errors[key] = f"recipe: no value for {exc.args[0]}"
                continue
            sources: list[tuple[str, str | ImageRecord]] = []
            try:
                for step in steps:
                    if step["op"] == "sd":
                        sources.append(("sd", str(step.get("subject", extraction.key_phrase))))
                    elif step["op"] == "collection":
                        picked = pick_images(
                            collection,
                            str(step.get("pick", "seeded")),
                            int(step.get("count", 1)),
                            str(step.get("query", extraction.question)),
                            config.seed,
                            step.get("tag"),
                        )
                        sources += [("collection", record) for record in picked]
            except PickError as exc:
                errors[key] = f"collection: {exc}"
                continue
            recipes.append(Recipe(key, spec, steps, sources))
    return recipes, errors


def _sd_images(
    config: BuildConfig,
    subjects: list[str],
    artifacts: Path,
    runner: TaskRunner[Any],
    gpu_limit: str | None,
) -> tuple[dict[str, ImageRecord], dict[str, str], int]:
    """One Stable Diffusion image per distinct subject: (images, errors, generated count)."""
    from generators.sd_images import SDJob

    jobs = [SDJob(sample_key=s, key_phrase=s) for s in subjects]
    with progress_bar() as progress:
        bar = progress.add_task("Stable Diffusion", total=len(jobs))
        try:
            outcomes = generate_all(
                jobs, config, artifacts, runner, gpu_limit, lambda n: progress.advance(bar, n)
            )
        except ValueError as exc:  # no model, unknown scheduler, checker requested but absent
            raise ConfigError(f"image_model: {exc}") from None
    images, errors, generated = {}, {}, 0
    for subject, outcome in zip(subjects, outcomes, strict=True):
        if outcome.image is None:
            errors[subject] = outcome.error or "no image"
        else:
            images[subject] = outcome.image
            generated += int(outcome.generated)
    return images, errors, generated


def make_variant_images(
    config: BuildConfig,
    extractions: Sequence[Extraction],
    specs: Sequence[VariantSpec],
    artifacts: Path,
    runner: TaskRunner[Any],
    gpu_limit: str | None,
    derived: Mapping[SampleKey, Mapping[str, Any]] | None = None,
    collection: Sequence[ImageRecord] = (),
) -> ImageStageResult:
    """Images for every (question, image variant) of `specs`, on the configured task runner.
    `derived` holds each sample's derived text fields; `collection` the imported images that
    `collection` steps pick from."""
    from typography import RenderJob

    result = ImageStageResult()
    recipes, result.errors = resolve_recipes(config, extractions, specs, derived or {}, collection)
    subjects = list(dict.fromkeys(s for r in recipes for s in r.sd_subjects))
    sd_images: dict[str, ImageRecord] = {}
    sd_errors: dict[str, str] = {}
    if subjects:
        sd_images, sd_errors, generated = _sd_images(config, subjects, artifacts, runner, gpu_limit)
        result.images.update({i.image_id: i for i in sd_images.values()})
        result.drawn += generated
        result.reused += len(sd_images) - generated
    encoding = encoding_of(config)
    jobs: dict[str, RenderJob] = {}
    job_of: dict[SampleKey, str] = {}
    for recipe in recipes:
        missing = [s for s in recipe.sd_subjects if s not in sd_images]
        if missing:
            result.errors[recipe.key] = f"Stable Diffusion: {sd_errors[missing[0]]}"
            continue
        inputs = [
            sd_images[str(value)] if kind == "sd" else value for kind, value in recipe.sources
        ]
        if len(recipe.steps) == 1 and recipe.steps[0]["op"] in SOURCE_OPS:
            result.by_key[recipe.key] = [i.image_id for i in inputs]
            continue
        job = RenderJob(kind=recipe.spec.name, steps=recipe.steps, inputs=inputs, encoding=encoding)
        job_key = json.dumps(job.model_dump(mode="json"), sort_keys=True)
        jobs.setdefault(job_key, job)
        job_of[recipe.key] = job_key
    keys = list(jobs)
    with progress_bar() as progress:
        bar = progress.add_task("Rendering images", total=len(keys))
        outcomes = render_all(
            [jobs[k] for k in keys], config, artifacts, runner, lambda n: progress.advance(bar, n)
        )
    by_job = dict(zip(keys, outcomes, strict=True))
    for outcome in by_job.values():
        result.images.update({i.image_id: i for i in outcome.images})
        if outcome.error is None:
            result.drawn += int(outcome.rendered)
            result.reused += int(not outcome.rendered)
    for sample_key, job_key in job_of.items():
        outcome = by_job[job_key]
        if outcome.error is not None:
            result.errors[sample_key] = outcome.error
        else:
            result.by_key[sample_key] = [i.image_id for i in outcome.images]
    return result
