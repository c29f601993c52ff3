"""Built-in and user taxonomies (YAML data, not code)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.config import ConfigError
from schemas.records import Taxonomy

TAXONOMY_DIR = Path(__file__).parent / "taxonomies"


def builtin_taxonomies() -> list[str]:
    return sorted(p.stem for p in TAXONOMY_DIR.glob("*.yaml"))


def load_taxonomy(name_or_path: str) -> Taxonomy:
    """Load a built-in taxonomy by name (e.g. "mm-safetybench") or any YAML file by path."""
    path = TAXONOMY_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        path = Path(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_taxonomies())
        raise ConfigError(f"taxonomy {name_or_path!r} is neither built in ({known}) nor a file")
    try:
        return Taxonomy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: invalid taxonomy: {exc}") from None
