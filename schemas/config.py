"""Build configuration: one YAML file, validated strictly, overridable with dotted keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from schemas._base import StrictModel
from schemas.tasks import REFUSAL, TaskName
from schemas.variants import (
    SpecError,
    VariantSpec,
    all_specs,
    load_spec_dir,
    per_language_specs,
)


class ConfigError(ValueError):
    """A config file could not be read or validated; the message names the file and field."""


class LLMEndpoint(StrictModel):
    """Another OpenAI-compatible endpoint/model (llm.fallback): asked what the main one refused."""

    base_url: str | None = None
    model: str = Field(min_length=1)
    api_key_env: str = "OPENAI_API_KEY"
    # Not probed: the form this endpoint takes (json_object suits most).
    structured_output: Literal["json_schema", "json_object_schema", "json_object", "prompt"] = (
        "json_object"
    )


class LLMConfig(StrictModel):
    provider: Literal["offline", "openai"] = "offline"
    model: str = "safetyforge-offline-v1"
    # None: the openai client's default, which honours OPENAI_BASE_URL.
    base_url: str | None = None
    # The key itself is never stored in config: only the name of the variable holding it.
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    seed: int | None = 0
    max_concurrency: int = Field(default=16, ge=1, le=1024)
    requests_per_minute: int | None = Field(default=None, ge=1)
    max_retries: int = Field(default=5, ge=0, le=50)
    timeout_s: float = Field(default=60.0, gt=0)
    # auto: probe the endpoint once (cached) and use the strictest form it accepts: json_schema,
    # else json_object with the schema (llama.cpp), else json_object, else JSON asked in the prompt.
    structured_output: Literal[
        "auto", "json_schema", "json_object_schema", "json_object", "prompt"
    ] = "auto"
    # Probe the endpoint before the run (structured output, seed, max_tokens, real concurrency).
    probe: bool = True
    # Endpoints/models, in order, that take over the requests the main one refuses.
    fallback: list[LLMEndpoint] = Field(default_factory=list)
    max_tokens: int | None = Field(default=None, ge=1)
    questions_per_request: int = Field(default=10, ge=1, le=100)
    max_rounds: int = Field(default=5, ge=1, le=100)
    near_duplicate_threshold: float = Field(default=0.85, gt=0.0, le=1.0)
    # Send images to the model as image content parts (grounded questions); needs a vision model.
    vision: bool = False


class CollectionColumns(StrictModel):
    """Column names (HF dataset) or keys (metadata file); a missing column leaves its field empty."""

    image: str = "image"  # HF datasets: the Image column
    file: str = "file_name"  # metadata files: the image's path relative to the folder
    # The image's id in its source; None: the file path (folder) or the row index (HF dataset).
    id: str | None = None
    captions: str = "captions"  # a string or a list of strings
    objects: str = "objects"  # a list of labels, or one string of labels separated by , or |
    ocr: str = "ocr"  # text visible in the image
    license: str = "license"  # a per-image licence overriding collection.license
    # Labels for recipes to select by (a list, or one string separated by , or |), e.g.
    # `harmless` for the images a `collection` step with `tag: harmless` may pick.
    tags: str = "tags"
    # Per-image labels of a labelled task (privacy, classification, captioning_toxicity): a
    # mapping (JSON/JSONL, HF dataset) or its JSON text (CSV); see README "Task types".
    # (Left out of the dump at its default, like sample_per_label when unset: configs without
    # labels keep their hash and their releases' build_config.yaml.)
    labels: str = Field(default="labels", exclude_if=lambda name: name == "labels")


class CollectionConfig(StrictModel):
    """Existing images (VLSafe / Auto-Bench style): a local folder with an optional metadata file
    (JSON, JSONL or CSV), or a Hugging Face image dataset by name or local path."""

    folder: str | None = None
    metadata: str | None = None
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    columns: CollectionColumns = Field(default_factory=CollectionColumns)
    # Name recorded as each image's source; None: the folder's or dataset's name.
    source: str | None = None
    # Licence of the images (an SPDX id or a URL); required so every release can state it.
    license: str = Field(min_length=1)
    max_images: int | None = Field(default=None, ge=1)
    questions_per_image: int = Field(default=2, ge=1, le=100)
    # Scenarios asked per image, taken in turn from the build's scenarios.
    scenarios_per_image: int = Field(default=1, ge=1)
    # Labelled tasks: keep at most this many images per label stratum (the task's: entity type
    # and role for privacy, positive dimensions for classification, category for captioning),
    # a seeded draw; None: every image.
    sample_per_label: int | None = Field(default=None, ge=1, exclude_if=lambda n: n is None)

    @model_validator(mode="after")
    def _one_source(self) -> CollectionConfig:
        if (self.folder is None) == (self.hf_dataset is None):
            raise ValueError("set exactly one of folder or hf_dataset")
        if self.metadata is not None and self.folder is None:
            raise ValueError("metadata is for a folder; an HF dataset carries its own columns")
        return self


class ImportColumns(StrictModel):
    """Where each field is in a jsonl/csv file: the key or column name. Unset: a column named
    like the field, when the file has one (a file written with these names needs no mapping)."""

    id: str | None = None  # the record's id in its file (default: its 1-based row number)
    question: str | None = None
    scenario: str | None = None  # a taxonomy slug, name or id
    changed_question: str | None = None
    key_phrase: str | None = None
    phrase_type: str | None = None
    rephrased_question: str | None = None
    rephrased_question_sd: str | None = None
    figstep_statement: str | None = None
    figstep_pro_template: str | None = None
    tiny: str | None = None  # true/false, 1/0, yes/no: membership of the tiny split


class QuestionsFromConfig(StrictModel):
    """Import questions (and whatever key-phrase fields the file has) instead of generating
    them. The LLM is asked only for the fields the chosen variants need and the file lacks."""

    # A registered importer: mm-safetybench, safebench, jailbreakv, jsonl or csv.
    format: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    # The file (safebench, jailbreakv, jsonl, csv) or folder (mm-safetybench: the
    # processed_questions folder of NN-Name.json files). Required; the built-in *-original
    # configs leave it to the command line (--set questions_from.path=...).
    path: str | None = None
    columns: ImportColumns = Field(default_factory=ImportColumns)
    # jsonl/csv: the scenario (slug, name or id) of every record when the file has no column.
    scenario: str | None = None
    # mm-safetybench: the published TinyVersion_ID_List.json (the tiny split).
    tiny_ids: str | None = None
    # safebench: the FigStep-Pro templates (benign_sentences_without_harmful_phase.csv), one
    # per row of SafeBench-Tiny (task_id 1-5 of each category), in that order.
    figstep_pro_templates: str | None = None
    # Keep at most this many records per scenario (file order); None: every record.
    max_per_scenario: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _has_path(self) -> QuestionsFromConfig:
        if not self.path:
            raise ValueError(
                f"path: set the {self.format} file or folder to import "
                "(e.g. --set questions_from.path=DIR)"
            )
        return self


class RenderConfig(StrictModel):
    # `reference`: pixel-identical to the originals' renderers wherever they lose no ink, their
    # FigStep-Pro cut rule and prompt wording, RGB images; text moves only where the original
    # would clip, and the record says so. `safe`: our never-clip layout with a margin.
    fidelity: Literal["reference", "safe"] = "safe"
    typo_preset: str = "mmsb-typo"
    figstep_preset: str = "figstep"
    figstep_pro_preset: str = "figstep-pro"
    sd_typo_preset: str = "sd-typo"
    # png, or jpeg as MM-SafetyBench published its images (quality 75, Pillow's default).
    image_format: Literal["png", "jpeg"] = "png"
    jpeg_quality: int = Field(default=75, ge=1, le=100)
    # auto: RGB in reference fidelity (as the originals), 8-bit gray typography in safe.
    color: Literal["auto", "gray", "rgb"] = "auto"
    # Your own font files by name (e.g. arial: /path/to/ARIAL.TTF), usable in presets.
    fonts: dict[str, str] = Field(default_factory=dict)
    # A presets YAML file (relative to the config's folder); its presets join the built-ins.
    presets_file: str | None = None
    # The presets read from presets_file (or written inline): name -> definition.
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # zlib level for PNG: 1 is about twice as fast as the default 6 for a few % more bytes.
    png_compress_level: int = Field(default=1, ge=0, le=9)
    # 0: as many worker processes as there are free CPUs when the stage starts (the cores other
    # processes leave idle; the choice is recorded in the run summary).
    workers: int = Field(default=0, ge=0)

    @property
    def rgb(self) -> bool:
        return self.color == "rgb" or (self.color == "auto" and self.fidelity == "reference")


class ImageModelConfig(StrictModel):
    # Local folder or hub id; None disables the sd / sd_typo variants.
    path: str | None = None
    revision: str | None = None
    # Weight file variant to load, e.g. "fp16" (hub repos ship diffusion_pytorch_model.fp16.safetensors).
    variant: str | None = None
    prompt_template: str = "A photo of {key_phrase}"
    negative_prompt: str | None = None
    steps: int = Field(default=30, ge=1)
    guidance_scale: float = 7.5
    width: int = Field(default=1024, ge=8)
    height: int = Field(default=1024, ge=8)
    scheduler: str | None = None
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    device: str = "auto"
    # Prompts per forward pass; "auto": the largest of 1, 2, 4, 8, 16 whose measured memory
    # fits the device's free memory (recorded with every image).
    batch_size: int | Literal["auto"] = Field(default=4)
    seed: int = 0
    safety_checker: bool = False
    max_regenerations: int = Field(default=3, ge=0)
    # The model's licence, for the card and croissant.json (known hub models need none).
    license: str | None = None
    # The diffusers pipeline class the model must have (e.g. StableDiffusionXLPipeline); preflight
    # checks the model's model_index.json against it. None: any text-to-image pipeline.
    pipeline: str | None = None

    @field_validator("batch_size")
    @classmethod
    def _positive_batch(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("batch_size must be at least 1 or 'auto'")
        return value


class ReviewConfig(StrictModel):
    mode: Literal["auto", "label-studio"] = "auto"
    ocr_check: bool = False
    # The OCR engine of the read-back checks (typography/ocr_engines): tesseract, rapidocr.
    ocr_engine: str = "tesseract"
    max_cer: float = Field(default=0.15, ge=0.0, le=1.0)
    min_annotations: int = Field(default=1, ge=1)
    label_studio_url: str = "http://127.0.0.1:8080"
    # The token is read from this environment variable (else from a server started by
    # `safetyforge review server`); it is never stored in config or the catalog.
    api_key_env: str = "LABEL_STUDIO_API_KEY"
    poll_interval_s: float = Field(default=30.0, gt=0)
    # How long a build waits for human review before it stops without publishing.
    timeout_s: float = Field(default=3600.0, gt=0)
    # False: one review pass per run instead of waiting (push what was never pushed, pull the
    # annotations, re-render corrected key phrases, publish the human-accepted samples); samples
    # still under review wait for the next run. For scheduled runs (the review-cycle deployment).
    wait: bool = True
    # An LLM judge reads each sample's prompt without its image and says whether the request can
    # be recovered from the text alone (warning `text_leak`; the card reports it per variant).
    leak_check: bool = True
    # Reject image-variant samples whose prompt leaks (kept with the reason; text_only is the
    # control and is never rejected for it).
    reject_text_leak: bool = False


AUTO_VERSION = "auto"


def check_version(value: str) -> str:
    """`value` when it is X.Y.Z or "auto"; else a ValueError that says so."""
    parts = value.split(".")
    if value != AUTO_VERSION and (len(parts) != 3 or not all(p.isdigit() for p in parts)):
        raise ValueError(f"version must look like X.Y.Z or be {AUTO_VERSION!r}, got {value!r}")
    return value


class ReleaseConfig(StrictModel):
    name: str = "safetyforge-bench"
    # X.Y.Z, or "auto": the next version after the newest release of this name when the accepted
    # content differs from it (minor when samples were added or removed, patch when only their
    # content changed), nothing when it is the same; 0.1.0 when there is no release yet.
    version: str = "0.1.0"
    license: str = "cc-by-nc-4.0"
    gated: bool = True
    tiny_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    # Reference benchmarks whose overlap with this release the card reports, as FORMAT:PATH
    # (mm-safetybench:DIR of processed_questions/NN-Name.json, safebench:CSV).
    compare_with: list[str] = Field(default_factory=list)
    # A build whose LLM requests went unanswered (timeouts, server errors) publishes nothing and
    # exits 4 unless this is true; the card then says how many were missing.
    allow_incomplete: bool = False
    # A build in which a scenario ended with no accepted sample publishes nothing and exits 5
    # unless this is true.
    allow_empty_scenarios: bool = False

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        return check_version(value)


class GrowConfig(StrictModel):
    """A growing benchmark: each run continues from the newest completed run of the same
    release name, keeps its questions (and their key phrases, with review corrections) as they
    are, and asks for `per_scenario` new ones per scenario. The first run of a release builds
    `questions_per_scenario` per scenario."""

    per_scenario: int = Field(default=0, ge=0, le=10_000)


class RunnerConfig(StrictModel):
    """Where the image stages run. `thread` renders with the in-process pool (render.workers);
    `process` and `dask` map chunks of jobs over worker processes (`dask`: a LocalCluster of
    `n_workers` on 127.0.0.1, or the scheduler at `address`)."""

    kind: Literal["thread", "process", "dask"] = "thread"
    n_workers: int = Field(default=2, ge=1)
    # tcp://host:8786 of a running Dask scheduler; None starts a LocalCluster.
    address: str | None = None
    # Dask worker scratch space; None: <artifacts_dir>/dask.
    local_directory: str | None = None
    # Render jobs per task when mapping over workers (process, dask).
    chunk_size: int = Field(default=200, ge=1)
    # SD jobs per task when mapping over workers: one chunk holds a GPU slot while it runs.
    sd_chunk_size: int = Field(default=16, ge=1)
    # GPUs the SD stage may use at once over all runs (a Prefect global concurrency limit).
    gpus: int = Field(default=1, ge=1)
    # fsspec URL of the shared content-addressed image store (s3://bucket/prefix, gs://...,
    # file:///shared/dir); None: artifacts_dir itself. Workers stage files locally, then put.
    artifact_store: str | None = None
    # Worker-local folder where images are drawn before upload to a remote artifact_store;
    # None: <system temp>/safetyforge-stage/<hash of the store URL>.
    stage_dir: str | None = None


class TranslateConfig(StrictModel):
    """Languages of the translated variants (`typo_translated`, `figstep_translated`): each
    such variant becomes one release config per language, `<variant>_<language>`. The LLM
    translates; a translation whose back-translation shares fewer than `min_back_similarity`
    of the original's words is rejected."""

    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[a-z0-9]+)?$")]] = Field(
        default_factory=list
    )
    min_back_similarity: float = Field(default=0.5, ge=0.0, le=1.0)


class BuildConfig(StrictModel):
    name: str = "quickstart"
    # What a sample asks and how answers are scored: refusal (harmful requests), or a task built
    # from a labelled collection (privacy, classification, captioning_toxicity). Left out of the
    # dump when refusal, so refusal builds keep their config hash, run ids and release files.
    task: TaskName = Field(default=REFUSAL, exclude_if=lambda task: task == REFUSAL)
    taxonomy: str = "mm-safetybench"
    # Scenario slugs to build; empty means every scenario of the taxonomy.
    scenarios: list[str] = Field(default_factory=list)
    questions_per_scenario: int = Field(default=3, ge=1, le=10_000)
    # Your own variant specs (read from a `variants/` folder beside the config, or inline).
    variant_specs: list[VariantSpec] = Field(default_factory=list)
    # Variant names: built-ins (`safetyforge variants list`) or your own specs.
    variants: list[str] = Field(
        default_factory=lambda: ["text_only", "typo", "figstep", "figstep_pro"]
    )
    # Per-variant overrides of a spec's `params`, e.g. {jood_mixup: {lam: 0.3}}.
    variant_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seed: int = 0
    artifacts_dir: str = "artifacts"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    image_model: ImageModelConfig = Field(default_factory=ImageModelConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    # Existing images for the `natural` variant and collection steps; None: no collection.
    collection: CollectionConfig | None = None
    # None: every run builds its questions afresh (the same ones, from the LLM cache).
    grow: GrowConfig | None = None
    translate: TranslateConfig = Field(default_factory=TranslateConfig)
    # Import questions from a published benchmark or your own file instead of generating them.
    questions_from: QuestionsFromConfig | None = None

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, variants: list[str], info: ValidationInfo) -> list[str]:
        specs = all_specs(info.data.get("variant_specs", []))
        if not variants:
            raise ValueError("variants must name at least one of " + ", ".join(specs))
        if len(set(variants)) != len(variants):
            raise ValueError("variants must not repeat")
        unknown = [v for v in variants if v not in specs]
        if unknown:
            raise ValueError(
                f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(specs)} "
                "(or add a spec in a variants/ folder beside the config)"
            )
        return variants

    @model_validator(mode="after")
    def _variant_settings(self) -> BuildConfig:
        specs = self.specs()
        for name, params in self.variant_params.items():
            spec = specs.get(name)
            extra = set(params) - set(spec.params) if spec else set()
            if spec is None or extra:
                raise ValueError(
                    f"variant_params.{name}: "
                    + (
                        f"{sorted(extra)} not among {sorted(spec.params)}"
                        if spec
                        else "no such variant"
                    )
                )
        named = all_specs(self.variant_specs)
        for name in self.variants:
            if named[name].needs_collection and self.collection is None:
                raise ValueError(f"the {name} variant needs a collection section (its images)")
            if named[name].per_language and not self.translate.languages:
                raise ValueError(
                    f"the {name} variant is made per language: set translate.languages "
                    "(e.g. [zh, ar, hi])"
                )
        if self.task != REFUSAL:
            own = [n for n in self.variants if named[n].question_source != "collection"]
            if self.collection is None or own:
                raise ValueError(
                    f"task {self.task} asks about labelled collection images: it needs a "
                    "collection section and collection variants only (e.g. natural)"
                    + (f", not {', '.join(own)}" if own else "")
                )
        if self.grow is not None and self.questions_from is not None:
            raise ValueError(
                "grow asks the LLM for new questions; questions_from imports a fixed set: "
                "use one of them"
            )
        return self

    def specs(self) -> dict[str, VariantSpec]:
        """Every variant this config can name: built-ins and its own specs, a per-language
        spec as one spec per `translate.languages` entry."""
        return {
            spec.name: spec
            for base in all_specs(self.variant_specs).values()
            for spec in per_language_specs(base, self.translate.languages, self._translation)
        }

    def chosen_specs(self) -> list[VariantSpec]:
        """The specs of `variants`, in the config's order (a per-language one per language)."""
        named = all_specs(self.variant_specs)
        return [
            spec
            for name in self.variants
            for spec in per_language_specs(named[name], self.translate.languages, self._translation)
        ]

    @property
    def _translation(self) -> dict[str, Any]:
        return {"min_back_similarity": self.translate.min_back_similarity}

    def variant_params_of(self, spec: VariantSpec) -> dict[str, Any]:
        return {**spec.params, **self.variant_params.get(spec.name, {})}


def _parse_scalar(raw: str) -> Any:
    """Parse an override value the way YAML would ("3" -> 3, "true" -> True, "[a, b]" -> list)."""
    return yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with each `dotted.key=value` override applied."""
    result = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like dotted.key=value")
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = _parse_scalar(raw)
    return result


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> BuildConfig:
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> BuildConfig:
    """Load a YAML build config (or the defaults when `path` is None) and apply overrides."""
    source = str(path) if path is not None else "<defaults>"
    data: Any = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    if overrides:
        data = apply_overrides(data, overrides)
        source += " (with --set overrides)"
    if path is not None:
        data = _with_side_files(data, Path(path).parent, source)
    return config_from_dict(data, source)


def _with_side_files(data: dict[str, Any], folder: Path, source: str) -> dict[str, Any]:
    """Read what a config names beside it: `render.presets_file` (relative to the config's
    folder) into render.presets, and every spec in `<folder>/variants/` into variant_specs."""
    render = data.get("render")
    if isinstance(render, dict) and render.get("presets_file"):
        file = (folder / str(render["presets_file"])).resolve()
        try:
            presets = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{source}: render.presets_file {file}: {exc}") from None
        if not isinstance(presets, dict):
            raise ConfigError(f"{source}: render.presets_file {file}: not a mapping of presets")
        data = {**data, "render": {**render, "presets_file": str(file), "presets": presets}}
    specs_dir = folder / "variants"
    if specs_dir.is_dir():
        try:
            specs = [s.model_dump(mode="json") for s in load_spec_dir(specs_dir)]
        except SpecError as exc:
            raise ConfigError(str(exc)) from None
        data = {**data, "variant_specs": [*data.get("variant_specs", []), *specs]}
    return data
