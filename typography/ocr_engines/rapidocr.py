"""RapidOCR (PaddleOCR's PP-OCRv4 models on onnxruntime; the models ship in the wheel).

Its bundled recogniser reads Chinese and Latin script only; other scripts are reported as
unreadable, as tesseract does for a missing language pack. Detection finds the text lines; they
are joined top to bottom, left to right.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
from PIL import Image

from typography.ocr_engines import engine

# Row tolerance when ordering detected boxes: boxes whose tops differ by less than this share a line.
_ROW_PX = 12


class RapidOcr:
    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # One intra-op thread: the caller runs one engine per core.
        self._ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def version(self) -> str:
        return f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}"

    def languages(self) -> frozenset[str]:
        return frozenset({"eng", "chi_sim"})

    def read(self, image: Image.Image, lang: str, single_line: bool) -> str:
        found, _ = self._ocr(np.asarray(image.convert("RGB")))
        boxes = sorted(found or [], key=lambda b: (round(b[0][0][1] / _ROW_PX), b[0][0][0]))
        return " ".join(text for _, text, _ in boxes)


@engine("rapidocr")
def _rapidocr() -> RapidOcr:
    return RapidOcr()
