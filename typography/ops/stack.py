"""`stack`: every picture so far, top to bottom, on one canvas (SD+TYPO, HADES)."""

from __future__ import annotations

from PIL import Image

from typography.ops.base import Picture, merged, op


@op("stack")
def stack(pictures: list[Picture], *, width_of: int = -1) -> list[Picture]:
    """Stack all pictures vertically at the width of picture `width_of` (default the last)."""
    width = pictures[width_of].image.width
    parts, resized = [], []
    for picture in pictures:
        image = picture.image.convert("RGB")
        if image.width != width:
            image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
            resized.append(True)
        else:
            resized.append(False)
        parts.append(image)
    canvas = Image.new("RGB", (width, sum(p.height for p in parts)), "white")
    tops, y = [], 0
    for part in parts:
        canvas.paste(part, (0, y))
        tops.append(y)
        y += part.height
    text = " ".join(p.text for p in pictures if p.text)
    meta = {
        "stack_tops": tops,
        "stack_sizes": [list(p.size) for p in parts],
        "stack_resized": resized,
        # Where the last part (the typography) starts: OCR reads only that region.
        "typo_top": tops[-1],
    }
    return [merged(pictures, canvas, text, meta)]
