"""Typographic images for the benchmark: TYPO (MM-SafetyBench), FigStep, FigStep-Pro fragments
and SD+TYPO, at reference geometry but never clipped, plus OCR checks.

Imports `schemas` and third-party libraries only; the flow passes texts and files in.
"""

from typography.compose import compose_sd_typo
from typography.errors import TypographyError
from typography.ocr import FragmentOcrResult, OcrResult, ocr_check, ocr_check_fragments
from typography.presets import PRESETS
from typography.render import RenderJob, RenderOutcome, render_jobs, render_preview
from typography.store import Ledger

__all__ = [
    "PRESETS",
    "FragmentOcrResult",
    "Ledger",
    "OcrResult",
    "RenderJob",
    "RenderOutcome",
    "TypographyError",
    "compose_sd_typo",
    "ocr_check",
    "ocr_check_fragments",
    "render_jobs",
    "render_preview",
]
