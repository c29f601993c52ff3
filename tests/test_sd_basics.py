"""SD stage pieces that need no pipeline: seeds, prompts, blank detection, config recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generators.sd_images import build_prompt, derive_seed, frame_problem, generate_sd_images
from generators.sd_model import Frame, resolve_dtype
from schemas.config import ImageModelConfig, load_config

REPO = Path(__file__).resolve().parents[1]


def test_seed_is_a_stable_function_of_global_seed_and_sample_key():
    seed = derive_seed(0, "sample-a")
    assert seed == derive_seed(0, "sample-a")
    assert seed != derive_seed(0, "sample-b")
    assert seed != derive_seed(1, "sample-a")
    assert 0 <= seed < 2**63
    # Pinned: a change of the derivation silently changes every published image.
    assert derive_seed(0, "s0") == 3920253109500487456


def test_prompt_template_fills_the_key_phrase():
    assert build_prompt("A photo of {key_phrase}", " hacking tools ") == "A photo of hacking tools"


def _frame(pixels: np.ndarray, nsfw: bool = False) -> Frame:
    return Frame(pixels=pixels.astype(np.float32), nsfw=nsfw)


def test_frame_problem_accepts_a_textured_image():
    rng = np.random.default_rng(0)
    assert frame_problem(_frame(rng.random((16, 16, 3)))) is None


@pytest.mark.parametrize(
    ("pixels", "nsfw", "reason"),
    [
        (np.zeros((16, 16, 3)), False, "all-black"),
        (np.full((16, 16, 3), 0.02), False, "all-black"),
        (np.full((16, 16, 3), 0.5), False, "uniform colour"),
        (np.where(np.eye(16)[..., None] > 0, np.nan, 0.5) * np.ones(3), False, "NaN"),
        (np.random.default_rng(1).random((16, 16, 3)), True, "safety checker"),
    ],
    ids=["black", "near-black", "flat-grey", "nan", "nsfw-flag"],
)
def test_frame_problem_names_each_kind_of_blank(pixels, nsfw, reason):
    problem = frame_problem(_frame(pixels, nsfw))
    assert problem is not None and reason in problem


def test_auto_dtype_is_half_on_accelerators_and_fp32_on_cpu():
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("auto", "cuda") == "float16"
    assert resolve_dtype("bfloat16", "cuda") == "bfloat16"


def test_unset_or_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="image_model.path is not set"):
        generate_sd_images([], ImageModelConfig(), tmp_path)
    empty = tmp_path / "not-a-pipeline"
    empty.mkdir()
    with pytest.raises(ValueError, match="without model_index.json"):
        generate_sd_images([], ImageModelConfig(path=str(empty), device="cpu"), tmp_path)


def test_mm_safetybench_recipe_is_sdxl_with_every_variant():
    config = load_config(REPO / "configs" / "mm-safetybench.yaml")
    assert config.taxonomy == "mm-safetybench"
    assert config.scenarios == []  # all 13
    # MM-SafetyBench's variants (SD, TYPO, SD+TYPO) with the text baseline and FigStep.
    assert config.variants == ["text_only", "typo", "sd", "sd_typo", "figstep", "figstep_pro"]
    image = config.image_model
    assert image.path == "stabilityai/stable-diffusion-xl-base-1.0"
    assert image.prompt_template == "A photo of {key_phrase}"
    assert (image.width, image.height) == (1024, 1024)
    assert image.safety_checker is False  # SDXL ships none; asking for one is an error
