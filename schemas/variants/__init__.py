"""Variants: how one question becomes what the evaluated model sees (image recipe and prompt).

Each variant is one declarative spec (a YAML file in this folder; users add their own beside a
build config). The flow, the release writer, the card, Label Studio and evaluation read the
spec, never a variant's name.
"""

from schemas.variants.registry import (
    all_specs,
    builtin_specs,
    format_prompt,
    load_spec_dir,
    per_language_specs,
    resolve_steps,
    resolve_value,
)
from schemas.variants.spec import SOURCE_OPS, CheckSpec, SpecError, Step, VariantSpec

__all__ = [
    "SOURCE_OPS",
    "CheckSpec",
    "SpecError",
    "Step",
    "VariantSpec",
    "all_specs",
    "builtin_specs",
    "format_prompt",
    "load_spec_dir",
    "per_language_specs",
    "resolve_steps",
    "resolve_value",
]
