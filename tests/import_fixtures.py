"""Paths of the small files written in the published formats (tests/fixtures/imports/) and the
build configs that import them."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
MMSB = FIXTURES / "mm-safetybench" / "processed_questions"
MMSB_TINY = FIXTURES / "mm-safetybench" / "TinyVersion_ID_List.json"
SAFEBENCH = FIXTURES / "safebench" / "safebench.csv"
SAFEBENCH_TEMPLATES = FIXTURES / "safebench" / "benign_sentences_without_harmful_phase.csv"
JAILBREAKV = FIXTURES / "jailbreakv" / "JailBreakV_28K.csv"
CONFIGS = Path(__file__).parent.parent / "configs"


def mmsb_overrides() -> list[str]:
    return [f"questions_from.path={MMSB}", f"questions_from.tiny_ids={MMSB_TINY}"]


def safebench_overrides() -> list[str]:
    return [
        f"questions_from.path={SAFEBENCH}",
        f"questions_from.figstep_pro_templates={SAFEBENCH_TEMPLATES}",
    ]
