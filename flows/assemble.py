"""Pure glue between stages: a sample's text fields, its recipe context, and the samples that
pair each question's variants with their prompts and images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.config import BuildConfig
from schemas.records import Extraction, Sample, sample_id
from schemas.variants import VariantSpec, format_prompt

# The key-phrase record's text fields a variant may consume.
TEXT_FIELDS = (
    "question",
    "changed_question",
    "key_phrase",
    "phrase_type",
    "rephrased_question",
    "rephrased_question_sd",
    "figstep_statement",
    "figstep_pro_template",
)


def sample_fields(extraction: Extraction, derived: Mapping[str, Any] | None = None) -> dict:
    """Every text field of one question: its key-phrase record's and its derived ones."""
    return {**extraction.model_dump(include=set(TEXT_FIELDS)), **(derived or {})}


def recipe_context(config: BuildConfig, spec: VariantSpec) -> dict[str, Any]:
    """What `$section.key` references in a spec's steps can name."""
    return {
        "render": config.render.model_dump(mode="json"),
        "image_model": config.image_model.model_dump(mode="json"),
        "params": config.variant_params_of(spec),
        "build": {"seed": config.seed, "name": config.name},
    }


def make_sample(
    extraction: Extraction,
    spec: VariantSpec,
    image_ids: list[str],
    fidelity: str,
    derived: Mapping[str, Any] | None = None,
) -> Sample:
    """The sample of one question in one variant, with the exact prompt for its images."""
    return Sample(
        sample_id=sample_id(extraction.question_id, spec.name),
        question_id=extraction.question_id,
        scenario=extraction.scenario,
        variant=spec.name,
        question=extraction.question,
        key_phrase=extraction.key_phrase,
        phrase_type=extraction.phrase_type,
        prompt=format_prompt(spec, sample_fields(extraction, derived), fidelity, len(image_ids)),
        image_ids=image_ids,
        original_id=extraction.original_id,
        changed_question=extraction.changed_question,
        figstep_statement=extraction.figstep_statement,
        figstep_pro_template=extraction.figstep_pro_template,
        warnings=list(extraction.warnings),
        tiny=extraction.tiny,
        labels=dict(extraction.labels),
    )


def build_samples(
    extractions: Sequence[Extraction],
    specs: Sequence[VariantSpec],
    images: Mapping[tuple[str, str], list[str]],
    fidelity: str,
    derived: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[Sample]:
    """One sample per extraction and variant; image ids empty where none could be made.
    `derived` holds each (question id, variant)'s derived text fields."""
    derived = derived or {}
    return [
        make_sample(
            extraction,
            spec,
            images.get((extraction.question_id, spec.name), []),
            fidelity,
            derived.get((extraction.question_id, spec.name)),
        )
        for extraction in extractions
        for spec in specs
    ]
