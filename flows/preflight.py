"""Checks run before a build starts Prefect, so common mistakes fail fast and plainly."""

from __future__ import annotations

from pathlib import Path

from annotation import connect
from catalog.quality.references import ReferenceError, read_reference
from flows.review_stage import label_studio_config
from generators.endpoint_probe import PROBE_TIMEOUT_S, unreachable
from generators.importers import get_importer
from generators.llm_types import LLMFatalError
from generators.providers import make_provider
from schemas.config import BuildConfig, ConfigError
from schemas.records import Scenario
from schemas.taxonomy import load_taxonomy


def select_scenarios(config: BuildConfig) -> list[Scenario]:
    """The config's scenarios in the order named (all of the taxonomy when none are); an
    unknown slug is a ConfigError listing the known ones."""
    taxonomy = load_taxonomy(config.taxonomy)
    if not config.scenarios:
        return list(taxonomy.scenarios)
    try:
        return [taxonomy.scenario(slug) for slug in config.scenarios]
    except KeyError as exc:
        raise ConfigError(f"scenarios: {exc.args[0]}") from None


def preflight(config: BuildConfig) -> None:
    """Raise ConfigError (bad taxonomy or scenario, unreadable release.compare_with, an import
    the build cannot read), LLMFatalError (e.g. no API key, an endpoint that does not answer a
    short probe) or ReviewUnavailable (review.mode
    label-studio with the server down or the token refused)."""
    select_scenarios(config)
    for spec in config.release.compare_with:
        try:
            read_reference(spec)
        except ReferenceError as exc:
            raise ConfigError(f"release.compare_with: {exc}") from None
    source = config.questions_from
    if source is not None:
        get_importer(source, config.taxonomy)
        for option in ("path", "tiny_ids", "figstep_pro_templates"):
            named = getattr(source, option)
            if named is not None and not Path(named).expanduser().exists():
                raise ConfigError(f"questions_from.{option}: not found: {named}")
    provider = make_provider(config.llm)
    if not provider.offline and provider.base_url:
        problem = unreachable(provider.base_url)
        if problem is not None:
            raise LLMFatalError(
                f"{provider.base_url} is unreachable ({problem}; probed for at most "
                f"{PROBE_TIMEOUT_S:.0f} s): start the server or fix llm.base_url"
            )
    if config.review.mode == "label-studio":
        connect(label_studio_config(config))
