"""Render jobs as the build makes them from a variant's spec, for tests that need images."""

from __future__ import annotations

from flows.variant_images import render_job
from schemas.config import BuildConfig
from typography import RenderJob


def spec_job(variant: str, text: str, config: BuildConfig | None = None) -> RenderJob:
    """The job of `variant` for one text used as key phrase and FigStep statement alike."""
    config = config or BuildConfig()
    fields = {"key_phrase": text, "figstep_statement": text}
    return render_job(config, config.specs()[variant], fields)
