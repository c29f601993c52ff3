"""The SD stage on the architectures the references used, as tiny random-weight pipelines
built locally: SDXL (MM-SafetyBench: two CLIP text encoders, size/crop time ids) and PixArt-alpha
(HADES: a transformer with a T5 encoder), loaded through `image_model.path` like any model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from flows.preflight import preflight
from generators import sd_model
from generators.sd_images import SDJob, derive_seed, generate_sd_images
from generators.sd_tiny import build_tiny_pipeline
from schemas.config import ConfigError, ImageModelConfig, load_config

REPO = Path(__file__).resolve().parents[1]
JOBS = [
    SDJob(sample_key=f"q{i}:sd", key_phrase=p)
    for i, p in enumerate(["bomb", "lock pick", "fake ids", "malware", "cash"])
]
# architecture -> (pipeline class, its scheduler, the config that names it)
EXPECTED = {
    "sdxl": ("StableDiffusionXLPipeline", "EulerDiscreteScheduler", "mm-safetybench.yaml"),
    "pixart": ("PixArtAlphaPipeline", "DDIMScheduler", "hades.yaml"),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp(f"tiny-{request.param}")
    return request.param, build_tiny_pipeline(folder, architecture=request.param)


def config(folder: Path, **changes: Any) -> ImageModelConfig:
    base = {"path": str(folder), "steps": 2, "width": 64, "height": 64, "device": "cpu"}
    return ImageModelConfig(**(base | {"batch_size": 4} | changes))


def pixels(artifacts: Path, outcome) -> np.ndarray:
    return np.asarray(Image.open(artifacts / outcome.image.path)).astype(int)


def test_the_model_folder_is_the_architecture(model):
    architecture, folder = model
    ref = sd_model.resolve_model(str(folder), None)
    assert sd_model.pipeline_class(ref) == EXPECTED[architecture][0]
    components = (folder / "model_index.json").read_text()
    if architecture == "sdxl":
        assert '"text_encoder_2"' in components and '"CLIPTextModelWithProjection"' in components
    else:
        assert '"transformer"' in components and '"T5EncoderModel"' in components


def test_seeds_reproduce_bit_exactly_after_a_reload(model, tmp_path):
    _, folder = model
    first = generate_sd_images(JOBS[:2], config(folder), tmp_path / "a")
    sd_model.load_pipeline.cache_clear()  # load the saved folder again
    again = generate_sd_images(JOBS[:2], config(folder), tmp_path / "b")
    assert [o.image.sha256 for o in first] == [o.image.sha256 for o in again]
    assert first[0].image.sha256 != first[1].image.sha256
    reseeded = generate_sd_images(JOBS[:1], config(folder, seed=1), tmp_path / "c")
    assert not np.array_equal(pixels(tmp_path / "c", reseeded[0]), pixels(tmp_path / "a", first[0]))


def test_every_generation_parameter_is_recorded(model, tmp_path):
    architecture, folder = model
    pipeline, scheduler, _ = EXPECTED[architecture]
    cfg = config(folder, guidance_scale=6.0, seed=7, negative_prompt="blurry", batch_size=2)
    [outcome] = generate_sd_images(JOBS[:1], cfg, tmp_path)
    record = outcome.image
    assert (record.width, record.height) == (64, 64) and record.text == "A photo of bomb"
    p = record.params
    assert (p["pipeline"], p["scheduler"]) == (pipeline, scheduler)
    assert p["model"] == str(folder.resolve()) and p["model_hash"].startswith("sha256:")
    assert (p["steps"], p["guidance_scale"], p["negative_prompt"]) == (2, 6.0, "blurry")
    assert (p["dtype"], p["device"], p["batch_size"], p["batch_size_setting"]) == (
        "float32",
        "cpu",
        2,
        2,
    )
    assert p["seed"] == p["base_seed"] == derive_seed(7, "q0:sd") and p["global_seed"] == 7


def test_batched_gives_the_same_images_as_one_by_one(model, tmp_path):
    _, folder = model
    batched = generate_sd_images(JOBS, config(folder, batch_size=4), tmp_path / "batched")
    single = generate_sd_images(JOBS, config(folder, batch_size=1), tmp_path / "single")
    assert [o.image.image_id for o in batched] == [o.image.image_id for o in single]
    for b, s in zip(batched, single, strict=True):
        a, c = pixels(tmp_path / "batched", b), pixels(tmp_path / "single", s)
        assert np.abs(a - c).max() <= 1  # within 1/255: batched matmuls round differently
    assert len({pixels(tmp_path / "single", o).tobytes() for o in single}) == len(JOBS)


def test_auto_batch_size_is_measured_and_recorded(model, tmp_path):
    _, folder = model
    [outcome] = generate_sd_images(JOBS[:1], config(folder, batch_size="auto"), tmp_path)
    p = outcome.image.params
    assert p["batch_size_setting"] == "auto"
    assert p["batch_size"] in sd_model.BATCH_CANDIDATES


def test_the_reference_config_passes_preflight_against_its_architecture(model):
    architecture, folder = model
    overrides = [f"image_model.path={folder}", "review.mode=auto", "llm.provider=offline"]
    cfg = load_config(REPO / "configs" / EXPECTED[architecture][2], overrides)
    preflight(cfg)
    # The other reference config names the other architecture: refused before anything runs.
    other = next(c for a, (_, _, c) in EXPECTED.items() if a != architecture)
    with pytest.raises(ConfigError, match=f"is a {EXPECTED[architecture][0]}, not the"):
        preflight(load_config(REPO / "configs" / other, overrides))


def test_batch_size_pick_fits_the_free_memory():
    mib = 1 << 20
    assert sd_model.pick_batch_size(1000 * mib, 100 * mib) == 8  # 8 x 100 <= 800
    assert sd_model.pick_batch_size(1000 * mib, 30 * mib) == 16
    assert sd_model.pick_batch_size(100 * mib, 500 * mib) == 1  # nothing fits: one at a time


def test_a_build_runs_the_architecture_end_to_end(model, prefect_api, tmp_path):
    from flows.build import build_benchmark

    architecture, folder = model
    cfg = load_config(
        None,
        [
            f"artifacts_dir={tmp_path}",
            "scenarios=[fraud]",
            "questions_per_scenario=1",
            "variants=[sd, sd_typo]",
            f"image_model.path={folder}",
            f"image_model.pipeline={EXPECTED[architecture][0]}",
            "image_model.steps=2",
            "image_model.width=64",
            "image_model.height=64",
            "render.workers=1",
        ],
    )
    summary = build_benchmark(config=cfg.model_dump(mode="json"))
    assert summary["samples_accepted"] == 2, summary["rejections"]
    import datasets

    sd = datasets.load_dataset(summary["release_path"], "sd", split="test")
    assert sd[0]["image"].size == (64, 64)
