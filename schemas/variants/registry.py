"""Every variant a build can use: the built-in specs (YAML files beside this module) and a
user's own (config `variant_specs`, filled from a `variants/` folder beside the config)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from schemas.variants.spec import VariantSpec, load_spec_file, placeholders

SPEC_DIR = Path(__file__).parent


@cache
def builtin_specs() -> dict[str, VariantSpec]:
    specs = [load_spec_file(path) for path in sorted(SPEC_DIR.glob("*.yaml"))]
    return {s.name: s for s in sorted(specs, key=lambda s: (s.order, s.name))}


def all_specs(user: Iterable[VariantSpec] = ()) -> dict[str, VariantSpec]:
    """Built-ins then the user's specs, in listing order; a user spec may not reuse a built-in
    name (a silent replacement would change what a known variant name means)."""
    specs = dict(builtin_specs())
    for spec in user:
        if spec.name in specs:
            raise ValueError(
                f"variant spec {spec.name!r} has the name of a built-in variant; rename it"
            )
        specs[spec.name] = spec
    return dict(sorted(specs.items(), key=lambda item: (item[1].order, item[0])))


def per_language_specs(
    spec: VariantSpec, languages: Iterable[str], params: Mapping[str, Any] | None = None
) -> list[VariantSpec]:
    """A `per_language` spec as one spec per language: named `<name>_<language>`, titled with
    the language, its `language` parameter (and `params`) set. Any other spec is returned as
    it is."""
    if not spec.per_language:
        return [spec]
    return [
        spec.model_copy(
            update={
                "name": f"{spec.name}_{language}",
                "title": f"{spec.title} ({language})",
                "params": {**spec.params, **(params or {}), "language": language},
                "per_language": False,
            }
        )
        for language in languages
    ]


def load_spec_dir(folder: Path) -> list[VariantSpec]:
    return [load_spec_file(path) for path in sorted(folder.glob("*.yaml"))]


def resolve_value(value: Any, fields: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    """A step parameter with its $section.key reference or {field} placeholders filled in."""
    if not isinstance(value, str):
        return value
    if value.startswith("$"):
        section, _, key = value[1:].partition(".")
        try:
            return resolve_value(context[section][key], fields, context)
        except KeyError:
            raise KeyError(f"{value} names no config value") from None
    if placeholders(value):
        return value.format(**fields)
    return value


def resolve_steps(
    spec: VariantSpec, fields: Mapping[str, Any], context: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The spec's image recipe as plain {"op": ..., params...} dicts with every reference and
    placeholder filled: what an image's id hashes and its record keeps."""
    return [
        {"op": step.op, **{k: resolve_value(v, fields, context) for k, v in step.params.items()}}
        for step in spec.images
    ]


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def image_count_fields(n_images: int) -> dict[str, Any]:
    word = _NUMBER_WORDS[n_images] if n_images < len(_NUMBER_WORDS) else str(n_images)
    return {"n_images": n_images, "n_images_word": word}


def format_prompt(
    spec: VariantSpec, fields: Mapping[str, Any], fidelity: str, n_images: int
) -> str:
    """The exact text given to the evaluated model. Each template line is stripped and blank
    lines at either end dropped (YAML folding already joined the lines of a folded block)."""
    lines = [line.strip() for line in spec.prompt_for(fidelity).strip().splitlines()]
    return "\n".join(lines).format(**fields, **image_count_fields(n_images))
