"""Rendering presets (presets.yaml): reference geometry plus our fit rules, validated strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from schemas._base import StrictModel
from typography.errors import TypographyError


class _PresetBase(StrictModel):
    font: str
    fallback_fonts: list[str] = Field(default_factory=list)
    size: int = Field(ge=4)
    origin: tuple[int, int]
    # Minimum distance in px between ink and every canvas edge; ink never reaches the edge.
    margin: int = Field(default=2, ge=0)

    @property
    def font_names(self) -> tuple[str, ...]:
        return (self.font, *self.fallback_fonts)


class _ShrinkingPreset(_PresetBase):
    min_size: int = Field(ge=4)
    size_step: int = Field(ge=1)

    @model_validator(mode="after")
    def _floor_below_size(self) -> _ShrinkingPreset:
        if self.min_size > self.size:
            raise ValueError(f"min_size {self.min_size} is above size {self.size}")
        return self

    def sizes(self) -> list[int]:
        """Sizes tried in order: the reference size, then smaller steps down to the floor."""
        sizes = list(range(self.size, self.min_size, -self.size_step))
        return [*sizes, self.min_size]


class TypoPreset(_ShrinkingPreset):
    """MM-SafetyBench TYPO: greedy word wrap to `width`, height = size x (lines + 1)."""

    layout: Literal["typo"]
    width: int = Field(ge=16)
    spacing: int = 4


class FigStepPreset(_ShrinkingPreset):
    """FigStep: fixed square canvas, text wrapped at `wrap_chars`, empty numbered list below."""

    layout: Literal["figstep"]
    width: int = Field(ge=16)
    height: int = Field(ge=16)
    spacing: int = 11
    wrap_chars: int = Field(ge=1)
    list_items: list[str] = Field(default_factory=list)


class FigStepProPreset(_PresetBase):
    """FigStep-Pro: one line on a canvas that fits it (the `split` operation cuts it)."""

    layout: Literal["figstep_pro"]
    pad: int = Field(ge=0)


Preset = Annotated[TypoPreset | FigStepPreset | FigStepProPreset, Field(discriminator="layout")]
_PRESETS_ADAPTER = TypeAdapter(dict[str, Preset])


AnyPreset = TypoPreset | FigStepPreset | FigStepProPreset


def validate_presets(data: Any, source: str) -> dict[str, AnyPreset]:
    """Presets from a mapping of name -> definition; errors name the source and the preset."""
    try:
        return _PRESETS_ADAPTER.validate_python(data)
    except ValidationError as exc:
        where = "; ".join(
            ".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in exc.errors()
        )
        raise TypographyError(f"{source}: invalid presets: {where}") from None


def load_presets(path: Path) -> dict[str, AnyPreset]:
    return validate_presets(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


PRESETS = load_presets(Path(__file__).parent / "presets.yaml")


def get_preset(name: str, user: Mapping[str, Any] | None = None) -> AnyPreset:
    """A preset by name: the user's definitions (render.presets) first, then the built-ins."""
    if user and name in user:
        return validate_presets({name: user[name]}, "render.presets")[name]
    try:
        return PRESETS[name]
    except KeyError:
        known = sorted({*PRESETS, *(user or {})})
        raise TypographyError(f"unknown preset {name!r}; known: {', '.join(known)}") from None
