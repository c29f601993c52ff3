"""Typographic images for the benchmark: the text layouts (MM-SafetyBench TYPO, FigStep,
FigStep-Pro), the registered image operations that variant recipes chain, the recipe runner with
its content-addressed cache, and OCR checks.

Imports `schemas` and third-party libraries only; the flow passes texts and files in.
"""

from typography.errors import TypographyError
from typography.ocr import FragmentOcrResult, OcrResult, ocr_check, ocr_check_fragments
from typography.ops import OPS, Picture
from typography.ops.text import bind_user_typography
from typography.presets import PRESETS
from typography.render import (
    Encoding,
    RenderJob,
    RenderOutcome,
    draw,
    render_jobs,
    render_preview,
)
from typography.store import Ledger

__all__ = [
    "OPS",
    "PRESETS",
    "Encoding",
    "FragmentOcrResult",
    "Ledger",
    "OcrResult",
    "Picture",
    "RenderJob",
    "RenderOutcome",
    "TypographyError",
    "bind_user_typography",
    "draw",
    "ocr_check",
    "ocr_check_fragments",
    "render_jobs",
    "render_preview",
]
