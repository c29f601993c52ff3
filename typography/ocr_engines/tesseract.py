"""tesseract through its C++ API (tesserocr): no process per image, the model stays loaded.

One API object per (language, page mode) and thread; tesserocr releases the GIL while it
recognises, so threads of one process keep several cores busy.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from PIL import Image

from typography.ocr_engines import engine

# Page segmentation modes: a block of lines, a single line.
_BLOCK, _LINE = 6, 7
# Where Debian's tesseract-ocr-<lang> packages and a source install put the language data.
_TESSDATA = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


@cache
def tessdata() -> str:
    """The folder of *.traineddata files: TESSDATA_PREFIX, else the first known place with any."""
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        return prefix
    for pattern in _TESSDATA:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            if any(folder.glob("*.traineddata")):
                return str(folder)
    raise RuntimeError(
        "no tesseract language data found: install tesseract-ocr (scripts/install_system_deps.sh) "
        "or set TESSDATA_PREFIX"
    )


class Tesseract:
    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._local = threading.local()

    def version(self) -> str:
        return "tesseract " + self._tesserocr.tesseract_version().split()[1]

    def languages(self) -> frozenset[str]:
        return frozenset(self._tesserocr.get_languages(tessdata())[1]) - {"osd"}

    def _api(self, lang: str, mode: int):
        apis = self._local.__dict__.setdefault("apis", {})
        if (lang, mode) not in apis:
            apis[lang, mode] = self._tesserocr.PyTessBaseAPI(path=tessdata(), lang=lang, psm=mode)
        return apis[lang, mode]

    def read(self, image: Image.Image, lang: str, single_line: bool) -> str:
        api = self._api(lang, _LINE if single_line else _BLOCK)
        api.SetImage(image)
        return api.GetUTF8Text()


@engine("tesseract")
def _tesseract() -> Tesseract:
    return Tesseract()
