"""croissant.json: the release described in Croissant 1.1 with the Responsible-AI (RAI 1.0) fields.

Pure: built from the build config, the parquet schemas actually written, the card's facts and the
review outcomes. Every path in it is relative to the release folder (no machine paths), so the
file stays valid wherever the folder is copied or uploaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from catalog.card import CardContext, SourceRow
from catalog.outcomes import OutcomeCount
from schemas.config import BuildConfig
from schemas.records import CONTRAST_CONFIG

LICENSES = Path(__file__).with_name("licenses.yaml")
CROISSANT_FILE = "croissant.json"
CROISSANT = "http://mlcommons.org/croissant/1.1"
RAI = "http://mlcommons.org/croissant/RAI/1.0"
# The standard JSON-LD context of Croissant 1.1 (as its reference implementation writes it).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
COLUMN_DESCRIPTIONS = {
    "id": "Stable sample id: the same question and variant keep it across versions.",
    "question_id": "The same for every variant of one question (pairs variants with text_only).",
    "original_id": "The record's id in the benchmark it was imported from ('' when generated).",
    "scenario": "Scenario slug.",
    "scenario_name": "Scenario name.",
    "question": "The original question.",
    "changed_question": "The question in instruction form.",
    "key_phrase": "The unsafe phrase shown in the image(s).",
    "phrase_type": "The key phrase's type (activity, product, ...).",
    "figstep_statement": "FigStep's declarative title.",
    "figstep_pro_template": "The statement with the key phrase replaced by *.",
    "variant": "The image variant (the config name).",
    "prompt": "The exact text to give the evaluated model together with the image(s).",
    "warnings": "Rules the published record fails (kept and flagged, not dropped).",
    "source_image_id": "The image's id in its source collection.",
    "source": "The image's source collection.",
    "license": "The image's licence.",
    "image": "The image shown with the prompt.",
    "images": "The FigStep-Pro fragments, to be given in order.",
}
_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@cache
def _licenses() -> dict[str, Any]:
    return yaml.safe_load(LICENSES.read_text(encoding="utf-8"))


def font_license(file_name: str) -> tuple[str, str]:
    """(licence, where the font comes from) of a font file, by its name."""
    for entry in _licenses()["fonts"]:
        if file_name.startswith(entry["prefix"]):
            return entry["license"], entry["source"]
    return "unknown", "unknown"


def image_model_license(config: BuildConfig) -> str:
    model = config.image_model
    return model.license or _licenses()["image_models"].get(model.path or "", "unknown")


def dataset_license(license_id: str) -> dict[str, str]:
    spdx = _licenses()["spdx"].get(license_id.lower())
    work = {
        "@type": "sc:CreativeWork",
        "name": f"Dataset (questions, prompts, rendered images): {license_id}",
    }
    if spdx:
        work["url"] = f"https://spdx.org/licenses/{spdx}.html"
    return work


def component_licenses(
    config: BuildConfig, context: CardContext, sources: Sequence[SourceRow]
) -> list[dict[str, str]]:
    """The dataset's own licence, then one entry per font, image model and image collection."""
    works = [dataset_license(config.release.license)]
    for font in context.fonts:
        license_id, origin = font_license(font.name)
        works.append(
            {
                "@type": "sc:CreativeWork",
                "name": f"Font {font.name}: {license_id}",
                "description": f"{origin}; sha256 {font.sha256}",
            }
        )
    if context.image_model is not None:
        works.append(
            {
                "@type": "sc:CreativeWork",
                "name": f"Image model {context.image_model['model']}: {image_model_license(config)}",
                "description": "The Stable Diffusion model that drew the images of the variants that use one.",
            }
        )
    for row in sources:
        works.append(
            {
                "@type": "sc:CreativeWork",
                "name": f"Collection images from {row.source}: {row.license}",
                "description": f"{row.images} existing images shown by {row.samples} natural samples; "
                "their licence applies to those image bytes.",
            }
        )
    return works


def _field(record_set: str, file_set: str, column: pa.Field) -> dict[str, Any]:
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{record_set}/{column.name}",
        "name": column.name,
        "description": COLUMN_DESCRIPTIONS.get(column.name, column.name),
    }
    source: dict[str, Any] = {"fileSet": {"@id": file_set}, "extract": {"column": column.name}}
    kind = column.type
    if pa.types.is_list(kind):
        field |= {"isArray": True, "arrayShape": "-1"}
        kind = kind.value_type
    if kind == _IMAGE:
        field["dataType"] = "sc:ImageObject"
        source["transform"] = {"jsonPath": "bytes"}
    else:
        field["dataType"] = "sc:Text"
    field["source"] = source
    return field


def _collection_text(config: BuildConfig) -> str:
    llm = config.llm
    writer = (
        "SafetyForge's offline template bank (no LLM)"
        if llm.provider == "offline"
        else f"the chat model {llm.model} (temperature {llm.temperature}, seed {llm.seed})"
    )
    text = (
        "Synthetic. Questions that a safe model should refuse were written per scenario of the "
        f"{config.taxonomy} taxonomy by {writer} from versioned prompt templates, deduplicated "
        "(exact and near-duplicates rejected), then turned into key phrases and rephrasings by "
        "the same model. Images are rendered from the key phrases: typography (MM-SafetyBench "
        "and FigStep geometry)"
    )
    if config.image_model.path:
        text += f" and Stable Diffusion ({config.image_model.path})"
    if config.collection is not None:
        text += "; the natural config pairs existing collection images with questions written about them"
    return (
        text
        + ". No personal data was collected; every request and response is kept in the build catalog."
    )


def _annotation_protocol(config: BuildConfig) -> list[str]:
    review = config.review
    steps = [
        "Automatic rule checks on every sample: the key phrase occurs in the changed question, "
        "the rephrased prompt does not leak it, no duplicate question, the text fits the image.",
    ]
    if review.leak_check:
        steps.append(
            "Text leakage: an LLM judge reads each sample's prompt alone, never its image, and "
            "says whether the request can be recovered from the text (warning `text_leak`; "
            "text_only is the control)"
            + (
                "; leaking image-variant samples are rejected."
                if review.reject_text_leak
                else "; leaking samples are kept and flagged."
            )
        )
    steps.append(
        "Benign twins (config `contrast`, label benign, linked to their source by question_id): "
        "rejected when a twin repeats its source or keeps its harmful key phrase."
    )
    if review.ocr_check:
        steps.append(
            "Tesseract OCR reads every typography image back; a character error rate above "
            f"{review.max_cer} rejects the sample."
        )
    if review.mode == "label-studio":
        steps.append(
            "Human review in Label Studio: annotators see the question, key phrase, prompt and "
            "every variant's image, accept or reject with a reason, and may correct the key phrase "
            f"(re-rendered and reviewed again). A question is decided by the majority of "
            f"{review.min_annotations} annotator(s); ties stay pending; only accepted samples are published."
        )
    return steps


def _annotation_analysis(outcomes: Sequence[OutcomeCount]) -> list[str]:
    return [
        f"{o.stage}: {o.outcome}{' (' + o.reason + ')' if o.reason else ''}: {o.count}"
        for o in outcomes
    ]


def croissant_metadata(
    *,
    config: BuildConfig,
    schemas: Mapping[str, pa.Schema],
    data_files: Mapping[str, Mapping[str, str]],
    context: CardContext,
    outcomes: Sequence[OutcomeCount],
    sources: Sequence[SourceRow],
    n_samples: int,
    citation: str,
) -> dict[str, Any]:
    """The croissant.json document of a release: one FileSet and one RecordSet per config and
    split (`typo/test`, `typo/tiny`), fields typed from the parquet schema written."""
    release = config.release
    distribution, record_sets = [], []
    for variant, splits in data_files.items():
        for split, pattern in splits.items():
            set_id = f"{variant}/{split}"
            file_set = f"parquet-{variant}-{split}"
            distribution.append(
                {
                    "@type": "cr:FileSet",
                    "@id": file_set,
                    "name": file_set,
                    "description": f"Parquet shards of the {variant} config, {split} split.",
                    "encodingFormat": "application/x-parquet",
                    "includes": pattern,
                }
            )
            record_sets.append(
                {
                    "@type": "cr:RecordSet",
                    "@id": set_id,
                    "name": set_id,
                    "description": f"The {variant} config, {split} split."
                    + (" Benign twins of every variant." if variant == CONTRAST_CONFIG else ""),
                    "key": {"@id": f"{set_id}/id"},
                    "field": [_field(set_id, file_set, c) for c in schemas[variant]],
                }
            )
    review = config.review
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": [CROISSANT, RAI],
        "name": release.name,
        "description": (
            f"A multimodal safety benchmark ({context.taxonomy_title}) built with SafetyForge: "
            f"{n_samples} samples in {len(data_files)} configs: one per image variant"
            + (
                f", and `{CONTRAST_CONFIG}`, the benign twins of the questions (label benign, "
                "same question_id) for measuring over-refusal"
                if CONTRAST_CONFIG in data_files
                else ""
            )
            + ". Red-teaming data: questions and images that request harmful content, never "
            "answers."
        ),
        "version": release.version,
        "datePublished": datetime.now(UTC).date().isoformat(),
        "citeAs": citation,
        "license": component_licenses(config, context, sources),
        "keywords": ["safety", "red-teaming", "multimodal", "vision-language", "typography"],
        "inLanguage": ["en"],
        "isLiveDataset": False,
        "distribution": distribution,
        "recordSet": record_sets,
        "rai:dataCollection": _collection_text(config),
        # Not in RAI 1.0's vocabulary yet, but what reviewers (e.g. NeurIPS) check for.
        "rai:hasSyntheticData": True,
        "rai:dataCollectionType": ["Synthetic data generation"]
        + (["Secondary data (existing image collection)"] if config.collection else []),
        "rai:dataAnnotationProtocol": _annotation_protocol(config),
        "rai:dataAnnotationPlatform": ["Label Studio"]
        if review.mode == "label-studio"
        else ["SafetyForge automatic review"],
        "rai:annotationsPerItem": str(review.min_annotations)
        if review.mode == "label-studio"
        else "0 human annotations (automatic checks)",
        "rai:machineAnnotationTools": ["SafetyForge rule checks"]
        + (["LLM text-leakage judge"] if review.leak_check else [])
        + ([f"{review.ocr_engine} OCR"] if review.ocr_check else []),
        "rai:dataAnnotationAnalysis": _annotation_analysis(outcomes),
        "rai:dataUseCases": [
            "Intended: evaluating whether vision-language models refuse (or, for advice "
            "scenarios, disclaim) unsafe requests given through text, typography and images; "
            "comparing models and versions; red-teaming before deployment.",
            "Prohibited: training or fine-tuning models to comply with these requests; "
            "harvesting the questions as instructions; targeting real people or organisations; "
            "redistribution outside the access gate.",
        ],
        "rai:dataBiases": [
            "The questions come from one generator and one prompt template per scenario: its "
            "topics, phrasing and cultural and legal frame (English, mostly US/EU notions of harm).",
            "Scenario sizes are the configured questions per scenario, not the prevalence of harm.",
            "Typography uses one font and layout per variant; results may not transfer to other "
            "fonts, languages or handwriting.",
        ]
        + (
            [f"Images drawn by {config.image_model.path} carry that model's biases."]
            if config.image_model.path
            else []
        ),
        "rai:dataLimitations": [
            "Success rates depend on the judge; report the evaluation protocol and this version.",
            "Automatic review cannot tell whether a question is truly harmful in every culture.",
        ],
        "rai:dataSocialImpact": (
            "Measures and so helps reduce the compliance of vision-language models with harmful "
            "requests. Misuse risk: the questions are requests for harm; access is gated."
        ),
        "rai:personalSensitiveInformation": [
            "None collected. Questions may name groups or public roles; no private person's data."
        ],
        "rai:dataReleaseMaintenancePlan": (
            "Versions are immutable (semantic versions, checksummed in MANIFEST.json); fixes "
            "are published as new versions and `safetyforge releases diff` lists what changed."
        ),
    }
    if context.hub_repo:
        document["url"] = f"https://huggingface.co/datasets/{context.hub_repo}"
    return document
