"""`qr`: text as a QR code (segno), appended as a picture whose text is what it encodes."""

from __future__ import annotations

import io

import segno
from PIL import Image

from typography.errors import TypographyError
from typography.ops.base import Picture, op

_LEVELS = ("l", "m", "q", "h")


@op("qr")
def qr(
    pictures: list[Picture], *, text: str, scale: int = 10, border: int = 4, error: str = "m"
) -> list[Picture]:
    """Append a QR code of `text` (`scale` px per module, `border` modules of quiet zone,
    error correction level l|m|q|h)."""
    if not text.strip():
        raise TypographyError("qr needs a non-empty text")
    if error not in _LEVELS:
        raise TypographyError(f"qr error level must be one of {', '.join(_LEVELS)}")
    code = segno.make(text, error=error, micro=False, boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=border)
    with Image.open(io.BytesIO(buffer.getvalue())) as opened:
        image = opened.convert("L")
    meta = {
        "qr_version": code.version,
        "qr_error": code.error,
        "qr_scale": scale,
        "qr_border": border,
        "segno_version": segno.__version__,
    }
    return [*pictures, Picture(image=image, text=text, meta=meta)]
