"""`noise`: a strip above the content for HADES-style images.

HADES puts an adversarial strip, a third of the final height, above the SD image and its
typography. By default the strip is seeded uniform noise (reproducible from `seed` and the
picture text). The hook for an optimised strip (HADES optimises it against a white-box model's
loss; this project ships no optimiser): make the strip yourself, put it in a collection and
give it as the recipe's first source image with `strip: input`, e.g.
`[{op: collection, pick: seeded}, {op: sd}, {op: text, ...}, {op: noise, strip: input}, {op: stack}]`;
it is scaled to the strip's size, and its bytes are part of the image id like any input.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, op


@op("noise")
def noise(
    pictures: list[Picture], *, seed: int = 0, share: float = 1 / 3, strip: str = "random"
) -> list[Picture]:
    """Put a strip first, `share` of the height the pictures will have once stacked at the
    last one's width: seeded noise (`strip: random`) or the first picture (`strip: input`)."""
    if not 0.0 < share < 1.0:
        raise TypographyError(f"noise share must be between 0 and 1, not {share}")
    if strip not in ("random", "input"):
        raise TypographyError(f"noise strip must be random or input, not {strip!r}")
    content = pictures[1:] if strip == "input" else pictures
    if not content:
        raise TypographyError("noise needs the pictures it goes above")
    width = content[-1].image.width
    stacked = sum(round(p.image.height * width / p.image.width) for p in content)
    height = max(1, round(stacked * share / (1.0 - share)))
    text = " ".join(p.text for p in content if p.text)
    if strip == "input":
        image = pictures[0].image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    else:
        rng = np.random.default_rng([int(seed), zlib.crc32(text.encode("utf-8"))])
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGB")
    meta = {"strip": strip, "strip_share": share, "strip_seed": int(seed)}
    return [Picture(image=image, meta=meta), *content]
