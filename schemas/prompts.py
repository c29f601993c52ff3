"""Prompt templates (YAML files beside this module) rendered with Jinja2.

Each template carries a `version`; the rendered prompt's sha256 and the version travel with every
record made from it, so a changed template re-asks exactly the calls it affects.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from schemas._base import StrictModel
from schemas.records import PromptProvenance, Scenario

PROMPT_DIR = Path(__file__).parent / "prompts"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


class RenderedPrompt(StrictModel):
    messages: list[dict[str, str]]
    provenance: PromptProvenance


@cache
def load_template(name: str) -> dict[str, Any]:
    path = PROMPT_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROMPT_DIR.glob("*.yaml")))
        raise KeyError(f"no prompt template {name!r} (known: {known})")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "version" not in data:
        raise ValueError(f"{path}: a prompt template needs a 'version' and its message fields")
    return data


@cache
def _compiled(source: str) -> jinja2.Template:
    # Compiling costs ~5 ms; rendering a compiled template ~0.1 ms (one render per LLM call).
    return _ENV.from_string(source)


def template_name(stage: str, scenario: Scenario) -> str:
    return f"{stage}.{scenario.kind}"


def messages_sha256(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8")).hexdigest()


def render_template(name: str, **context: Any) -> RenderedPrompt:
    template = load_template(name)
    # Few-shot examples live in the template's `examples` list (not in its prose), so checks
    # can tell a copied example from a real answer.
    context = {"examples": template.get("examples", []), **context}
    messages = [
        {"role": role, "content": _compiled(template[role]).render(**context).strip()}
        for role in ("system", "user")
        if role in template
    ]
    provenance = PromptProvenance(
        template=name,
        template_version=str(template["version"]),
        prompt_sha256=messages_sha256(messages),
    )
    return RenderedPrompt(messages=messages, provenance=provenance)


def render_prompt(stage: str, scenario: Scenario, **context: Any) -> RenderedPrompt:
    """Render the template for `stage` ("questions" or "extraction") and the scenario's kind."""
    return render_template(template_name(stage, scenario), scenario=scenario, **context)
