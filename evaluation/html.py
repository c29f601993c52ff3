"""The report as one self-contained HTML page: the same tables as the Markdown (heat-map cells
shaded and linked to example answers), the charts and the example images embedded as data URIs,
no external file or script."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
from PIL import Image

from evaluation.report import Report

_TEMPLATE = Path(__file__).with_name("report.html.j2")
THUMBNAIL_PX = 160


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail(image: bytes, size: int = THUMBNAIL_PX) -> str:
    """A PNG data URI of `image` shrunk to fit size x size (never enlarged)."""
    with Image.open(io.BytesIO(image)) as opened:
        small = opened.convert("RGB")
        small.thumbnail((size, size))
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue())


def anchor(key: str) -> str:
    return "ex-" + re.sub(r"[^A-Za-z0-9_-]+", "-", key)


def heat_colour(value: float) -> str:
    """Green (0) through yellow to red (1), light enough for dark text."""
    hue = 120 * (1 - max(0.0, min(1.0, value)))
    return f"hsl({hue:.0f}, 70%, 78%)"


def render_html(
    report: Report,
    charts: Mapping[str, bytes | None],
    thumbnails: Mapping[str, Sequence[str]],
    markdown: str,
) -> str:
    """`charts`: title -> PNG bytes; `thumbnails`: sample id -> image data URIs in order."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["heat"] = heat_colour
    env.filters["anchor"] = anchor
    template = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        report=report,
        charts={title: data_uri(png) for title, png in charts.items() if png},
        thumbnails=thumbnails,
        markdown=markdown,
    )
