"""Read machine-readable codes back (the `decode` check of QR variants) with zxing-cpp."""

from __future__ import annotations

from functools import cache
from importlib.metadata import version

from PIL import Image


def _zxing():
    # Imported on first use: only builds with a decode check need it.
    import zxingcpp

    return zxingcpp


@cache
def decoder() -> str:
    return f"zxing-cpp {version('zxing-cpp')}"


def decode_qr(image: Image.Image) -> list[str]:
    """The texts of every QR code found in the image, top-left first."""
    zxing = _zxing()
    found = zxing.read_barcodes(image.convert("L"), formats=zxing.BarcodeFormat.QRCode)
    return [result.text for result in found if result.valid]
