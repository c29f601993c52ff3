"""Checks run before a build starts Prefect, so common mistakes fail fast and plainly."""

from __future__ import annotations

from annotation import connect
from flows.review_stage import label_studio_config
from generators.providers import make_provider
from schemas.config import BuildConfig, ConfigError
from schemas.taxonomy import load_taxonomy


def preflight(config: BuildConfig) -> None:
    """Raise ConfigError (bad taxonomy or scenario), LLMFatalError (e.g. no API key) or
    ReviewUnavailable (review.mode label-studio with the server down or the token refused)."""
    taxonomy = load_taxonomy(config.taxonomy)
    for slug in config.scenarios:
        try:
            taxonomy.scenario(slug)
        except KeyError as exc:
            raise ConfigError(f"scenarios: {exc.args[0]}") from None
    make_provider(config.llm)
    if config.review.mode == "label-studio":
        connect(label_studio_config(config))
