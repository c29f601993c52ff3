"""The dataset card (README.md) of a release: YAML metadata the Hub and `datasets` read, then prose."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml

from schemas.config import BuildConfig
from schemas.records import Sample

TEMPLATE = Path(__file__).with_name("card_template.md.j2")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)

GATED_PROMPT = (
    "This dataset contains requests for harmful content, collected to evaluate the safety of "
    "vision-language models. Access is granted for safety research only."
)


def size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def card_metadata(
    config: BuildConfig, data_files: dict[str, dict[str, str]], n_samples: int
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


def render_card(
    *,
    config: BuildConfig,
    samples: Sequence[Sample],
    data_files: dict[str, dict[str, str]],
    scenario_names: dict[str, str],
    context: dict[str, Any],
) -> str:
    """Render README.md. `context` carries run facts: run_id, taxonomy_title, llm_description,
    build_notes, variant_prompts, load_path."""
    configs = list(data_files)
    per_cell = Counter((s.scenario, s.variant) for s in samples)
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
        card_metadata(config, data_files, len(samples)), sort_keys=False, allow_unicode=True
    )
    values = {
        "metadata": metadata.strip(),
        "title": config.release.name,
        "version": config.release.version,
        "configs": configs,
        "count_rows": rows,
        "n_scenarios": len(rows) - 1,
        "n_questions": len({s.question_id for s in samples}),
        "n_samples": len(samples),
        "n_configs": len(configs),
        "tiny_percent": round(config.release.tiny_fraction * 100),
        "license": config.release.license,
        "citation_key": config.release.name.replace("-", "_")
        + "_"
        + config.release.version.replace(".", "_"),
        "year": datetime.now(UTC).year,
        **context,
    }
    return _ENV.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**values)
