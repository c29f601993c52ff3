"""`text`: draw text with a named preset (typo, figstep or figstep_pro line layout)."""

from __future__ import annotations

from typing import Any

from typography.errors import TypographyError
from typography.ops.base import Picture, op
from typography.presets import get_preset
from typography.renderers import LAYOUTS
from typography.text import clean_text


@op("text")
def text(
    pictures: list[Picture],
    *,
    text: str,
    preset: str,
    fidelity: str = "safe",
    presets: dict[str, Any] | None = None,
    fonts: dict[str, str] | None = None,
) -> list[Picture]:
    """Draw `text` with `preset` (appends one picture); `fidelity` reference|safe."""
    if fidelity not in ("reference", "safe"):
        raise TypographyError(f"fidelity must be reference or safe, not {fidelity!r}")
    chosen = get_preset(preset, presets)
    cleaned = clean_text(text)
    user = tuple(sorted((fonts or {}).items()))
    drawn = LAYOUTS[chosen.layout](chosen, cleaned, fidelity, user)  # type: ignore[operator]
    picture = Picture(
        image=drawn.image,
        text=cleaned,
        fonts=drawn.fonts,
        font_size=drawn.font_size,
        meta={"preset": preset, **drawn.params},
    )
    return [*pictures, picture]


def bind_user_typography(
    step: dict[str, Any], presets: dict[str, Any], fonts: dict[str, str]
) -> dict[str, Any]:
    """A text step carrying the build's own preset definition and font files it uses, so the
    step alone (in any worker process) says everything that decides its pixels."""
    if step.get("op") != "text":
        return step
    bound = dict(step)
    name = step["preset"]
    if name in presets:
        bound["presets"] = {name: presets[name]}
    chosen = get_preset(name, presets)
    own = {n: fonts[n] for n in chosen.font_names if n in fonts}
    if own:
        bound["fonts"] = own
    return bound
