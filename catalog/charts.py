"""PNG charts for the dataset card: scenario distribution and review outcomes (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on build machines
import matplotlib.pyplot as plt  # noqa: E402

from catalog.outcomes import OutcomeCount  # noqa: E402

# No software/version stamp, so the same counts give the same bytes on this matplotlib.
_SAVE = {"format": "png", "dpi": 100, "bbox_inches": "tight", "metadata": {"Software": None}}


def scenario_chart(counts: Mapping[str, Mapping[str, int]], path: Path) -> Path:
    """Stacked horizontal bars: samples per scenario (rows), one colour per variant."""
    scenarios = list(counts)
    variants = sorted({v for row in counts.values() for v in row})
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(scenarios) + 1.5))
    left = [0] * len(scenarios)
    for variant in variants:
        values = [counts[s].get(variant, 0) for s in scenarios]
        ax.barh(scenarios, values, left=left, label=variant)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.set_title("Samples per scenario and variant")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path


def review_chart(outcomes: Sequence[OutcomeCount], path: Path) -> Path:
    """Horizontal bars: accepted per stage, then rejected per stage and reason."""
    labels = [
        f"{o.stage}: accepted" if o.outcome == "accepted" else f"{o.stage}: {o.reason}"[:60]
        for o in outcomes
    ]
    colours = ["tab:green" if o.outcome == "accepted" else "tab:red" for o in outcomes]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(outcomes), 1) + 1.5))
    ax.barh(labels, [o.count for o in outcomes], color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("records")
    ax.set_title("Review outcomes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **_SAVE)
    plt.close(fig)
    return path


def example_sheet(images: Sequence[bytes], path: Path, height: int = 160, gap: int = 8) -> Path:
    """One sample's images side by side at a common height (a variant's example in the card)."""
    import io

    from PIL import Image

    opened = []
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            scale = height / image.height
            size = (max(1, round(image.width * scale)), height)
            if "A" in image.getbands():  # shown on white, as a viewer's page shows it
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            opened.append(image.convert("RGB").resize(size, Image.LANCZOS))
    width = sum(i.width for i in opened) + gap * (len(opened) - 1)
    sheet = Image.new("RGB", (width, height), (200, 200, 200))
    x = 0
    for image in opened:
        sheet.paste(image, (x, 0))
        x += image.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG", optimize=True)
    return path
