"""The dataset card (README.md) of a release: YAML metadata the Hub and `datasets` read, then prose."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import Field

from catalog.charts import QUALITY_CHARTS
from catalog.outcomes import OutcomeCount
from schemas._base import StrictModel
from schemas.config import BuildConfig
from schemas.quality import OverlapRow, QualityReport
from schemas.records import CONTRAST_CONFIG, ImageRecord, Sample
from schemas.tasks import COUNT_BY, DESCRIPTIONS, REFUSAL, WARNINGS, task_columns
from schemas.taxonomy import load_taxonomy

TEMPLATE = Path(__file__).with_name("card_template.md.j2")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)

GATED_PROMPT = (
    "This dataset contains requests for harmful content, collected to evaluate the safety of "
    "vision-language models. Access is granted for safety research only."
)
CHARTS = {
    "scenarios": "charts/scenarios.png",
    "review": "charts/review_outcomes.png",
} | QUALITY_CHARTS
# One example sheet per image config: the first sample's images, as the model gets them.
EXAMPLES = "examples/{config}.png"


class FontRow(StrictModel):
    name: str
    sha256: str


class SourceRow(StrictModel):
    """One image collection behind the `natural` config, with the licence its images carry."""

    source: str
    license: str
    images: int
    samples: int


def source_rows(samples: Sequence[Sample], images: Mapping[str, ImageRecord]) -> list[SourceRow]:
    """Sources and licences of the collection images that accepted samples show, whole
    (`natural`) or inside a composite (a recipe's collection inputs, from `input_sources`)."""
    used: dict[tuple[str, str], set[str]] = defaultdict(set)
    counts: Counter[tuple[str, str]] = Counter()
    for sample in samples:
        shown: dict[str, tuple[str, str]] = {}
        for image_id in sample.image_ids:
            record = images[image_id]
            sources = (
                [{"image_id": image_id, **record.params}] if record.kind == "collection" else []
            )
            sources += [
                s for s in record.params.get("input_sources", []) if s["kind"] == "collection"
            ]
            for source in sources:
                shown[source["image_id"]] = (
                    str(source.get("source", "")),
                    str(source.get("license", "")),
                )
        for source_id, key in shown.items():
            used[key].add(source_id)
        for key in set(shown.values()):
            counts[key] += 1
    return [
        SourceRow(
            source=source, license=license, images=len(ids), samples=counts[(source, license)]
        )
        for (source, license), ids in sorted(used.items())
    ]


class VariantRow(StrictModel):
    """One variant as its spec defines it (the card's variant table)."""

    name: str
    title: str
    source: str
    summary: str
    prompt: str
    spec_sha256: str
    recipe: str  # its operations, e.g. "text -> split"


class ChangeRow(StrictModel):
    """Samples added, removed and changed in one scenario x variant since the previous version."""

    scenario: str
    variant: str
    added: int
    removed: int
    changed: int


class Changelog(StrictModel):
    """What this version changes against the newest earlier version of the release."""

    previous_version: str | None  # None: the first version of this release
    rows: list[ChangeRow] = Field(default_factory=list)


class CardContext(StrictModel):
    """Facts about the run that the card states; built by `card_context` from records."""

    run_id: str
    taxonomy_title: str
    generator: dict[str, str]
    variants: list[VariantRow]
    fonts: list[FontRow]
    renderer: dict[str, str]
    image_model: dict[str, str] | None
    hub_repo: str | None = None
    changelog: Changelog | None = None
    # Per LLM stage: asked / answered / valid first try / valid after repair / accepted ...
    llm_yield: dict[str, dict[str, int]] = Field(default_factory=dict)
    refusals: dict[str, dict[str, float]] = Field(default_factory=dict)


_STAGE_ORDER = ["questions", "key_phrases"]


def _versions(images: Mapping[str, ImageRecord], attr: str) -> str:
    found = sorted({str(getattr(i, attr)) for i in images.values() if getattr(i, attr)})
    return ", ".join(found) or "n/a"


def card_context(
    config: BuildConfig,
    run_id: str,
    images: Mapping[str, ImageRecord],
    hub_repo: str | None = None,
    changelog: Changelog | None = None,
    unanswered: int = 0,
    run_summary: Mapping[str, Any] | None = None,
) -> CardContext:
    """`unanswered`: the run's LLM requests that never got an answer (an incomplete run,
    published with release.allow_incomplete or `safetyforge publish`).
    `run_summary`: the run row's summary so far (the LLM yield and endpoint probe)."""
    run_summary = run_summary or {}
    llm = config.llm
    generator = {"provider": llm.provider, "model": llm.model}
    if unanswered:
        generator["completeness"] = (
            f"incomplete run: {unanswered} LLM request(s) went unanswered (timeouts, server "
            "errors); the questions or samples they would have made are missing"
        )
    if llm.provider == "offline":
        generator["note"] = "deterministic template bank (no LLM; for demos and tests)"
    else:
        generator |= {
            "temperature": str(llm.temperature),
            "seed": str(llm.seed),
            "structured output": (run_summary.get("llm_probe") or {}).get(
                "structured_output", llm.structured_output
            ),
            "max tokens": str(llm.max_tokens),
            "questions per request": str(llm.questions_per_request),
            "near-duplicate threshold": str(llm.near_duplicate_threshold),
        }
    source = config.questions_from
    if source is not None:
        generator["questions"] = (
            f"imported from {Path(source.path or '').name} ({source.format}); the LLM filled "
            "only fields the file lacks"
        )
    else:
        generator["questions requested per scenario"] = str(config.questions_per_scenario)
    fonts = sorted(
        {(Path(i.font_path).name, i.font_sha256) for i in images.values() if i.font_path}
    )
    renderer = {
        "presets": ", ".join(
            f"{k.removesuffix('_preset')}={v}"
            for k, v in config.render.model_dump().items()
            if k.endswith("_preset")
        ),
        "Pillow": _versions(images, "pillow_version"),
        "FreeType": _versions(images, "freetype_version"),
    }
    image_model = None
    specs = config.chosen_specs()
    if config.image_model.path and any(s.needs_image_model for s in specs):
        m = config.image_model
        image_model = {
            "model": m.path,
            "revision": str(m.revision),
            "prompt": m.prompt_template,
            "negative prompt": str(m.negative_prompt),
            "steps": str(m.steps),
            "guidance scale": str(m.guidance_scale),
            "size": f"{m.width}x{m.height}",
            "scheduler": str(m.scheduler or "model default"),
            "dtype": m.dtype,
            "seed": str(m.seed),
        }
    renderer["fidelity"] = config.render.fidelity
    variants = [
        VariantRow(
            name=s.name,
            title=s.title,
            source=s.source,
            summary=s.summary,
            prompt=" ".join(s.prompt_for(config.render.fidelity).split()),
            spec_sha256=s.sha256()[:12],
            recipe=" -> ".join(step.op for step in s.images) or "(no image)",
        )
        for s in specs
    ]
    return CardContext(
        run_id=run_id,
        taxonomy_title=load_taxonomy(config.taxonomy).title,
        generator=generator,
        variants=variants,
        fonts=[FontRow(name=name, sha256=sha or "") for name, sha in fonts],
        renderer=renderer,
        image_model=image_model,
        hub_repo=hub_repo,
        changelog=changelog,
        # Pipeline order (the catalog's JSON does not keep the summary's key order).
        llm_yield={
            stage: y
            for stage, y in sorted(
                (run_summary.get("llm_yield") or {}).items(),
                key=lambda item: _STAGE_ORDER.index(item[0]) if item[0] in _STAGE_ORDER else 99,
            )
            if y["asked"]
        },
        refusals={s: r for s, r in (run_summary.get("refusals") or {}).items() if r["refused"]},
    )


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def card_metadata(
    config: BuildConfig, data_files: Mapping[str, Mapping[str, str]], n_samples: int
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "pretty_name": config.release.name,
        "license": config.release.license,
        "language": ["en"],
        "task_categories": ["visual-question-answering", "image-text-to-text"],
        "tags": [
            "safety",
            "red-teaming",
            "jailbreak",
            "multimodal",
            "typography",
            "not-for-all-audiences",
        ],
        "size_categories": [size_category(n_samples)],
        "configs": [
            {
                "config_name": variant,
                "data_files": [{"split": split, "path": path} for split, path in splits.items()],
            }
            for variant, splits in data_files.items()
        ],
    }
    if config.release.gated:
        meta["extra_gated_prompt"] = GATED_PROMPT
        meta["extra_gated_fields"] = {
            "Affiliation": "text",
            "Intended use": "text",
            "I will use this dataset only for safety evaluation and research": "checkbox",
        }
    return meta


def _example_rows(samples: Sequence[Sample], configs: Sequence[str]) -> list[dict[str, str]]:
    """One text-only example per config (the first by id), prompts shortened."""
    rows = []
    for variant in configs:
        first = min((s for s in samples if s.variant == variant), key=lambda s: s.sample_id)
        prompt = " ".join(first.prompt.split())
        rows.append(
            {
                "config": variant,
                "id": first.sample_id,
                "scenario": first.scenario,
                "key_phrase": first.key_phrase,
                "prompt": (prompt[:117] + "...") if len(prompt) > 120 else prompt,
            }
        )
    return rows


class OverlapTotal(StrictModel):
    """One other question set, all scenarios together."""

    against: str
    questions: int
    exact: int
    near: int
    mean_best_similarity: float


def overlap_totals(rows: Sequence[OverlapRow]) -> list[OverlapTotal]:
    groups: dict[str, list[OverlapRow]] = defaultdict(list)
    for row in rows:
        groups[row.against].append(row)
    return [
        OverlapTotal(
            against=against,
            questions=sum(r.questions for r in cells),
            exact=sum(r.exact for r in cells),
            near=sum(r.near for r in cells),
            mean_best_similarity=sum(r.mean_best_similarity * r.questions for r in cells)
            / sum(r.questions for r in cells),
        )
        for against, cells in groups.items()
    ]


def citation(config: BuildConfig, run_id: str) -> str:
    """The BibTeX entry of a release (in the card and croissant.json)."""
    release = config.release
    key = release.name.replace("-", "_") + "_" + release.version.replace(".", "_")
    return (
        f"@misc{{{key},\n"
        f"  title  = {{{release.name} (version {release.version})}},\n"
        f"  note   = {{Built with SafetyForge, build run {run_id}}},\n"
        f"  year   = {{{datetime.now(UTC).year}}}\n"
        "}"
    )


def task_summary(task: str, samples: Sequence[Sample]) -> dict[str, Any] | None:
    """A labelled task's card section: what it is and its samples per label combination."""
    if task == REFUSAL:
        return None
    keys = COUNT_BY[task]
    counts = Counter(" / ".join(s.labels.get(k, "") for k in keys) for s in samples)
    return {
        "name": task,
        "description": DESCRIPTIONS[task],
        "warning": WARNINGS[task],
        "by": " / ".join(keys),
        "columns": ", ".join(f"`{c}`" for c in task_columns(task)),
        "counts": sorted(counts.items()),
    }


def render_card(
    *,
    config: BuildConfig,
    samples: Sequence[Sample],
    data_files: Mapping[str, Mapping[str, str]],
    scenario_names: Mapping[str, str],
    context: CardContext,
    outcomes: Sequence[OutcomeCount],
    images: Mapping[str, ImageRecord] | None = None,
    quality: QualityReport | None = None,
    twins: Sequence[Sample] = (),
) -> str:
    """Render README.md for the accepted `samples` of a release (config carries its version).

    `images` (the samples' records) lets the card list the sources and licences of collection
    images; without it that section is left out, as is the quality section without `quality`.
    `twins` (the benign twins' accepted samples) are the `contrast` config: counted apart.
    """
    configs = [c for c in data_files if c != CONTRAST_CONFIG]
    twin_counts = Counter(s.variant for s in twins)
    per_cell = Counter((s.scenario, s.variant) for s in samples)
    image_counts: Counter[str] = Counter()
    for sample in samples:
        image_counts[sample.variant] += len(sample.image_ids)
    rows = [
        {"name": name, "counts": [per_cell[(slug, c)] for c in configs]}
        for slug, name in scenario_names.items()
        if any(per_cell[(slug, c)] for c in configs)
    ]
    rows.append(
        {
            "name": "**total**",
            "counts": [sum(per_cell[(s, c)] for s in scenario_names) for c in configs],
        }
    )
    metadata = yaml.safe_dump(
        card_metadata(config, data_files, len(samples) + len(twins)),
        sort_keys=False,
        allow_unicode=True,
    )
    release = config.release
    values = {
        "metadata": metadata.strip(),
        "title": release.name,
        "version": release.version,
        "configs": configs,
        # The config the "Load it" lines name: the first with images (else the first).
        "load_config": next((c for c in configs if image_counts[c]), configs[0]),
        "count_rows": rows,
        "n_scenarios": len(rows) - 1,
        "n_questions": len({s.question_id for s in samples}),
        "n_samples": len(samples),
        "n_configs": len(configs),
        "tiny_percent": round(release.tiny_fraction * 100),
        "license": release.license,
        "gated": release.gated,
        "outcomes": outcomes,
        "examples": _example_rows(samples, configs),
        "image_counts": image_counts,
        "example_images": EXAMPLES,
        "charts": CHARTS,
        "ctx": context,
        "sources": source_rows(samples, images) if images is not None else [],
        "hub_repo": context.hub_repo or "ORG/NAME",
        "citation": citation(config, context.run_id),
        "quality": quality,
        "task": task_summary(config.task, samples),
        "overlap_totals": overlap_totals(quality.overlap) if quality else [],
        "scenario_names": scenario_names,
        "contrast": CONTRAST_CONFIG if twins else None,
        "twin_counts": twin_counts,
        "n_twin_questions": len({s.twin_of for s in twins}),
    }
    return _ENV.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**values)
