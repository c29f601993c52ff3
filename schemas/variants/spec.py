"""The declarative shape of a variant: the text it consumes, its image recipe (a chain of
registered image operations), how many images it yields, its prompt and the checks that apply.

Specs are plain data (YAML files in this folder for the built-ins, a `variants/` folder beside a
build config for a user's own). Operation names are resolved by the flow against the registries
of the stage packages (typography ops, generator image sources); nothing here imports them.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from schemas._base import StrictModel

# Fields every prompt may use besides the spec's own: how many images go with it.
IMAGE_COUNT_FIELDS = ("n_images", "n_images_word")
# Image operations made outside typography (by generators) and fed into the chain as inputs.
SOURCE_OPS = frozenset({"sd", "collection"})
# Where a variant's questions come from: the taxonomy's questions, or questions written about
# each image of a collection (the `natural` variant).
QuestionSource = Literal["taxonomy", "collection"]
_REFERENCE = re.compile(r"^\$([a-z_]+)\.([a-z_0-9]+)$")


class Step(StrictModel):
    """One operation of an image recipe: `op` names a registered operation; every other key of
    the YAML mapping is a parameter. A string parameter may hold `{field}` placeholders (filled
    from the sample's text fields) or be one `$section.key` reference (a config value, or
    `$params.key` for the variant's own overridable parameters)."""

    op: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flat_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" not in data:
            return {"op": data.get("op"), "params": {k: v for k, v in data.items() if k != "op"}}
        return data


class CheckSpec(StrictModel):
    """A check on a variant's samples. `ocr`: the text read back (all images side by side)
    must match `expected` within review.max_cer; `decode`: a machine-readable code must decode
    to `expected`; `fragment_leak`: no single image may show a whole word of `expected`;
    `prompt_excludes`: the prompt must not contain `expected` (the image carries it).
    `prepare` steps (image operations) undo the variant's disguise before reading."""

    check: Literal["ocr", "decode", "fragment_leak", "prompt_excludes"]
    expected: str = "{key_phrase}"
    prepare: list[Step] = Field(default_factory=list)


class VariantSpec(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    # Position in listings, tables and galleries (lower first).
    order: int = 100
    # The benchmark or paper whose construction this reproduces.
    source: str
    # What the image shows, in a sentence (README table, card, `variants show`).
    summary: str
    # Text fields it consumes: key-phrase record fields or fields its derivations produce.
    fields: list[str] = Field(default_factory=list)
    # Registered text derivations run per question before the images (e.g. base64, subquestions).
    derive: list[str] = Field(default_factory=list)
    question_source: QuestionSource = "taxonomy"
    # One variant (and release config) per language of the build's `translate.languages`,
    # named <name>_<language>, with `params.language` set (see `per_language_specs`).
    per_language: bool = False
    # The image recipe; empty for a text-only variant.
    images: list[Step] = Field(default_factory=list)
    # "one": a single image (release column `image`); "many": an ordered list (`images`).
    yields: Literal["none", "one", "many"] = "one"
    # Defaults of the variant's own parameters (`$params.x` in steps), overridable per build
    # with `variant_params.<name>.<x>`.
    params: dict[str, Any] = Field(default_factory=dict)
    # The exact text given to the evaluated model: {field} placeholders and {n_images}.
    prompt: str
    # Prompt wording per render.fidelity where it differs (e.g. the originals' own wording).
    prompts: dict[Literal["reference", "safe"], str] = Field(default_factory=dict)
    checks: list[CheckSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> VariantSpec:
        if (self.yields == "none") != (not self.images):
            raise ValueError("yields must be 'none' exactly when there is no image recipe")
        for step in self.images:
            for value in step.params.values():
                if isinstance(value, str) and value.startswith("$") and not _REFERENCE.match(value):
                    raise ValueError(f"step {step.op}: {value!r} is not a $section.key reference")
        for template in (self.prompt, *self.prompts.values()):
            unknown = set(placeholders(template)) - {*self.fields, *IMAGE_COUNT_FIELDS}
            if unknown:
                raise ValueError(
                    f"prompt uses {sorted(unknown)} not listed in fields {self.fields}"
                )
        return self

    @property
    def source_ops(self) -> list[str]:
        return [s.op for s in self.images if s.op in SOURCE_OPS]

    @property
    def needs_image_model(self) -> bool:
        return "sd" in self.source_ops

    @property
    def needs_collection(self) -> bool:
        return "collection" in self.source_ops or self.question_source == "collection"

    def prompt_for(self, fidelity: str) -> str:
        return self.prompts.get(fidelity, self.prompt)  # type: ignore[call-overload]

    def sha256(self) -> str:
        """Content hash of the spec (shown in the dataset card)."""
        data = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()


def placeholders(template: str) -> list[str]:
    """The {field} names a str.format template uses."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


class SpecError(ValueError):
    """A variant spec file could not be read or validated; the message names the file."""


def load_spec_file(path: Path) -> VariantSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read variant spec: {exc}") from None
    try:
        return VariantSpec.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: invalid variant spec"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise SpecError("\n".join(lines)) from None
