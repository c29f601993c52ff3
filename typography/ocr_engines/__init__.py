"""OCR engines behind one small interface, chosen by name (`review.ocr_engine`).

An engine reads the text of one image in one language (tesseract's codes: eng, chi_sim, ara,
...; '+'-joined for mixed scripts) as a block of lines or a single line. Each module registers
one engine with `@engine("name")`; engines load their models lazily, once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Protocol

from PIL import Image


class OcrEngine(Protocol):
    def version(self) -> str:
        """Name and version, recorded with every check (e.g. "tesseract 5.5.4")."""
        ...

    def languages(self) -> frozenset[str]:
        """Language codes this engine can read here."""
        ...

    def read(self, image: Image.Image, lang: str, single_line: bool) -> str:
        """The text in `image`; `single_line` when it holds one line only."""
        ...


_FACTORIES: dict[str, Callable[[], OcrEngine]] = {}
# Modules that register engines; imported when an engine is first asked for, so a render worker
# never pays for an OCR library.
_MODULES = ("tesseract", "rapidocr")


def engine(name: str) -> Callable[[Callable[[], OcrEngine]], Callable[[], OcrEngine]]:
    def register(factory: Callable[[], OcrEngine]) -> Callable[[], OcrEngine]:
        _FACTORIES[name] = factory
        return factory

    return register


def engine_names() -> list[str]:
    for module in _MODULES:
        import_module(f"{__name__}.{module}")
    return sorted(_FACTORIES)


@cache
def get_engine(name: str) -> OcrEngine:
    """The engine called `name`, one instance per process; ValueError naming the known ones."""
    if name not in engine_names():
        raise ValueError(f"unknown OCR engine {name!r}; known: {', '.join(engine_names())}")
    return _FACTORIES[name]()
