"""The image-operation registry: small pure functions over a list of pictures.

Every operation takes the pictures made so far (in recipe order) and returns the new list: `text`
appends one, `split` replaces the last with its fragments, `stack` and `grid` combine all into
one, `rotate` or `mirror` change each. Sources made outside this package (Stable Diffusion,
collection images) enter the list as input pictures where the recipe names them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps

from schemas.variants import SOURCE_OPS
from typography.errors import TypographyError
from typography.fonts import ResolvedFont


@dataclass
class Picture:
    """One image in the making, with the text it shows (what OCR should read back), the fonts
    drawn with, and the geometry to record."""

    image: Image.Image
    text: str = ""
    fonts: list[ResolvedFont] = field(default_factory=list)
    font_size: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


Operation = Callable[..., list[Picture]]


@dataclass(frozen=True)
class OpInfo:
    name: str
    function: Operation
    summary: str
    params: dict[str, Any]  # parameter -> default (inspect.Parameter.empty when required)


OPS: dict[str, OpInfo] = {}


def op(name: str) -> Callable[[Operation], Operation]:
    """Register an operation under `name` (its docstring's first line is its summary)."""

    def register(function: Operation) -> Operation:
        if name in OPS or name in SOURCE_OPS:
            raise ValueError(f"image operation {name!r} is registered twice")
        signature = inspect.signature(function)
        params = {
            p.name: p.default
            for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        summary = (function.__doc__ or "").strip().splitlines()[0]
        OPS[name] = OpInfo(name, function, summary, params)
        return function

    return register


def merged(pictures: list[Picture], image: Image.Image, text: str, meta: dict[str, Any]) -> Picture:
    """A picture made from `pictures`: their fonts (first use order) and first font size."""
    fonts: list[ResolvedFont] = []
    for picture in pictures:
        fonts += [f for f in picture.fonts if f not in fonts]
    size = next((p.font_size for p in pictures if p.font_size is not None), None)
    return Picture(image=image, text=text, fonts=fonts, font_size=size, meta=meta)


def run_chain(steps: list[dict[str, Any]], inputs: list[Image.Image]) -> list[Picture]:
    """Apply resolved steps in order; a source step takes the next `count` input images."""
    pictures: list[Picture] = []
    waiting = list(inputs)
    for step in steps:
        name, params = step["op"], {k: v for k, v in step.items() if k != "op"}
        if name in SOURCE_OPS:
            count = int(params.get("count", 1))
            if len(waiting) < count:
                raise TypographyError(f"step {name!r} needs {count} input image(s); none left")
            pictures += [Picture(image=image) for image in waiting[:count]]
            waiting = waiting[count:]
            continue
        pictures = apply_op(name, params, pictures)
    if not pictures:
        raise TypographyError("the recipe made no image")
    return pictures


def apply_op(name: str, params: dict[str, Any], pictures: list[Picture]) -> list[Picture]:
    """One registered operation over the pictures made so far."""
    info = OPS.get(name)
    if info is None:
        raise TypographyError(f"unknown image operation {name!r}; known: {', '.join(OPS)}")
    unknown = set(params) - set(info.params)
    if unknown:
        raise TypographyError(f"operation {name!r} takes no parameter {sorted(unknown)}")
    return info.function(pictures, **params)


def prepare(steps: list[dict[str, Any]], pictures: list[Picture]) -> list[Picture]:
    """Apply a check's `prepare` steps (operations that undo a variant's disguise, e.g. rotate
    back, flatten on white) to pictures read back from files."""
    for step in steps:
        pictures = apply_op(step["op"], {k: v for k, v in step.items() if k != "op"}, pictures)
    return pictures


def ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the dark pixels (text) of a light-background picture; None: no ink."""
    return ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 64 else 0).getbbox()


def fit_cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to cover `size` and centre-cropped to it (no stretching), in RGB."""
    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
