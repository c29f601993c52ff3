"""Pure glue between stages: which images to make, and the samples that pair them with prompts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from schemas.config import BuildConfig
from schemas.prompts import variant_prompt
from schemas.records import Extraction, Sample, sample_id

# Which key-phrase field each rendered variant draws, and with which preset.
RENDERED_VARIANTS: dict[str, tuple[str, str]] = {
    "typo": ("key_phrase", "typo_preset"),
    "figstep": ("figstep_statement", "figstep_preset"),
    "figstep_pro": ("key_phrase", "figstep_pro_preset"),
}


def render_requests(
    extractions: Sequence[Extraction], variants: Sequence[str], config: BuildConfig
) -> list[tuple[str, str, str]]:
    """Distinct (kind, text, preset) triples to render for accepted extractions."""
    wanted: dict[tuple[str, str, str], None] = {}
    for extraction in extractions:
        for variant in variants:
            if variant in RENDERED_VARIANTS:
                field, preset_key = RENDERED_VARIANTS[variant]
                preset = getattr(config.render, preset_key)
                wanted[(variant, getattr(extraction, field), preset)] = None
    return list(wanted)


def image_key(variant: str, extraction: Extraction, config: BuildConfig) -> tuple[str, str, str]:
    """The render request a sample of `variant` uses (for looking up its images)."""
    if variant in RENDERED_VARIANTS:
        field, preset_key = RENDERED_VARIANTS[variant]
        return (variant, getattr(extraction, field), getattr(config.render, preset_key))
    return (variant, extraction.key_phrase, "")


def prompt_fields(extraction: Extraction, n_images: int) -> dict[str, object]:
    fields: dict[str, object] = extraction.model_dump()
    fields["n_images"] = n_images
    return fields


def build_samples(
    extractions: Sequence[Extraction],
    variants: Sequence[str],
    images: Mapping[tuple[str, str, str], list[str]],
    config: BuildConfig,
) -> list[Sample]:
    """One sample per accepted extraction and variant; image ids empty where none could be made."""
    samples = []
    for extraction in extractions:
        for variant in variants:
            image_ids = (
                []
                if variant == "text_only"
                else images.get(image_key(variant, extraction, config), [])
            )
            samples.append(make_sample(extraction, variant, image_ids))
    return samples


def make_sample(extraction: Extraction, variant: str, image_ids: list[str]) -> Sample:
    """The sample of one question in one variant, with the exact prompt for its images."""
    return Sample(
        sample_id=sample_id(extraction.question_id, variant),
        question_id=extraction.question_id,
        scenario=extraction.scenario,
        variant=variant,  # type: ignore[arg-type]
        question=extraction.question,
        key_phrase=extraction.key_phrase,
        phrase_type=extraction.phrase_type,
        prompt=variant_prompt(variant, prompt_fields(extraction, len(image_ids))),
        image_ids=image_ids,
        original_id=extraction.original_id,
        changed_question=extraction.changed_question,
        figstep_statement=extraction.figstep_statement,
        figstep_pro_template=extraction.figstep_pro_template,
        warnings=list(extraction.warnings),
    )
