"""Exports of a release to the layouts of the benchmarks it reproduces (one module each)."""

from catalog.exports.mm_safetybench import export_mm_safetybench
from catalog.exports.release_rows import ExportError
from catalog.exports.safebench import export_safebench

__all__ = ["ExportError", "export_mm_safetybench", "export_safebench"]
