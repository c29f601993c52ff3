"""The SD stage on a real (tiny, random-weight) diffusers pipeline saved to disk, on CPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators.sd_images import (
    SDJob,
    derive_seed,
    generate_sd_images,
    pipeline_renderer,
    plan_for,
    run_jobs,
)
from generators.sd_model import Frame
from generators.sd_tiny import build_tiny_pipeline
from schemas.config import ImageModelConfig

REPO = Path(__file__).resolve().parents[1]
JOBS = [
    SDJob(sample_key=f"q{i}:sd", key_phrase=p)
    for i, p in enumerate(["bomb", "lock pick", "fake ids", "malware", "cash"])
]


@pytest.fixture(scope="session")
def flagging_model(tmp_path_factory) -> Path:
    return build_tiny_pipeline(
        tmp_path_factory.mktemp("tiny-sd-checker"), flagging_safety_checker=True
    )


def tiny_config(model: Path, **changes) -> ImageModelConfig:
    base = {
        "path": str(model),
        "steps": 2,
        "width": 64,
        "height": 64,
        "device": "cpu",
        "batch_size": 4,
    }
    return ImageModelConfig(**(base | changes))


def pixels(artifacts: Path, outcome) -> np.ndarray:
    return np.asarray(Image.open(artifacts / outcome.image.path))


def test_same_config_gives_identical_files_and_another_seed_does_not(tiny_model, tmp_path):
    config = tiny_config(tiny_model)
    first = generate_sd_images(JOBS[:3], config, tmp_path / "a")
    again = generate_sd_images(JOBS[:3], config, tmp_path / "b")
    assert [o.image.sha256 for o in first] == [o.image.sha256 for o in again]
    reseeded = generate_sd_images(JOBS[:1], tiny_config(tiny_model, seed=1), tmp_path / "c")
    assert reseeded[0].image.image_id != first[0].image.image_id
    assert not np.array_equal(pixels(tmp_path / "c", reseeded[0]), pixels(tmp_path / "a", first[0]))


def test_batched_gives_the_same_images_as_one_by_one(tiny_model, tmp_path):
    batched = generate_sd_images(JOBS, tiny_config(tiny_model, batch_size=4), tmp_path / "batched")
    single = generate_sd_images(JOBS, tiny_config(tiny_model, batch_size=1), tmp_path / "single")
    assert [o.image.image_id for o in batched] == [o.image.image_id for o in single]
    for b, s in zip(batched, single, strict=True):
        a, c = (
            pixels(tmp_path / "batched", b).astype(int),
            pixels(tmp_path / "single", s).astype(int),
        )
        # Batched matmuls round differently in the last float bit (~2e-6 here), which can flip a
        # pixel by one level of 255; a different seed or prompt changes nearly every pixel.
        assert np.abs(a - c).max() <= 1
        assert (a != c).mean() < 0.01
    distinct = {pixels(tmp_path / "single", o).tobytes() for o in single}
    assert len(distinct) == len(JOBS)


def test_every_generation_parameter_is_recorded(tiny_model, tmp_path):
    config = tiny_config(tiny_model, negative_prompt="blurry", guidance_scale=6.0, seed=7)
    [outcome] = generate_sd_images(JOBS[:1], config, tmp_path)
    record = outcome.image
    assert outcome.generated and outcome.error is None
    assert record.kind == "sd" and record.text == "A photo of bomb"
    assert record.path == f"images/sd/{record.image_id[:2]}/{record.image_id}.png"
    assert (record.width, record.height) == (64, 64)
    p = record.params
    assert p["model"] == str(tiny_model.resolve())
    assert p["model_hash"].startswith("sha256:") and p["model_revision"] is None
    assert p["scheduler"] == "DDIMScheduler"
    assert (p["steps"], p["guidance_scale"], p["negative_prompt"]) == (2, 6.0, "blurry")
    assert (p["dtype"], p["device"], p["width"], p["height"]) == ("float32", "cpu", 64, 64)
    assert p["seed"] == p["base_seed"] == derive_seed(7, "q0:sd") and p["global_seed"] == 7
    assert p["attempts"] == 1 and p["rejected_attempts"] == []
    assert p["safety_checker"] is False
    for lib in ("diffusers", "torch", "transformers"):
        assert p[f"{lib}_version"]
    sidecar = tmp_path / record.path.replace(".png", ".json")
    assert json.loads(sidecar.read_text())["sha256"] == record.sha256


def test_a_killed_stage_resumes_and_a_rerun_generates_nothing(tiny_model, tmp_path):
    config = tiny_config(tiny_model, batch_size=2)
    partial = generate_sd_images(JOBS[:2], config, tmp_path)
    # A kill between writing an image and its sidecar leaves a PNG without a record. The orphan
    # is drawn in the batch the resumed run will draw it in: a batch's pixels may differ from
    # one-by-one in the last bit (float order), which the batching test bounds separately.
    orphan = generate_sd_images(JOBS[2:4], config, tmp_path / "scratch")[0].image
    (tmp_path / orphan.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "scratch" / orphan.path, tmp_path / orphan.path)
    before = {o.image.path: (tmp_path / o.image.path).stat().st_mtime_ns for o in partial}

    counted: list[int] = []
    resumed = generate_sd_images(JOBS, config, tmp_path, progress=counted.append)
    assert [o.generated for o in resumed] == [False, False, True, True, True]
    assert [o.job for o in resumed] == JOBS
    assert sum(counted) == len(JOBS)
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in before} == before
    assert resumed[2].image.sha256 == orphan.sha256

    rerun = generate_sd_images(JOBS, config, tmp_path)
    assert not any(o.generated for o in rerun)
    assert [o.image for o in rerun] == [o.image for o in resumed]
    assert not list(tmp_path.rglob("*.tmp"))


def test_duplicate_jobs_share_one_image(tiny_model, tmp_path):
    twice = [JOBS[0], JOBS[0]]
    outcomes = generate_sd_images(twice, tiny_config(tiny_model), tmp_path)
    assert outcomes[0].image == outcomes[1].image
    assert len(list(tmp_path.rglob("*.png"))) == 1


def test_blank_output_is_regenerated_with_the_next_seed_then_rejected(tiny_model, tmp_path):
    config = tiny_config(tiny_model, max_regenerations=2)
    plan = plan_for(config)
    real, scheduler = pipeline_renderer(plan)
    first_seed = derive_seed(config.seed, JOBS[0].sample_key)
    calls: list[list[int]] = []

    def blackening(prompts: list[str], seeds: list[int]) -> list[Frame]:
        """The real pipeline, with a fault: job 0's first seed and all of job 1's come out black."""
        calls.append(seeds)
        frames = real(prompts, seeds)
        for frame, prompt, seed in zip(frames, prompts, seeds, strict=True):
            if seed == first_seed or prompt.endswith("lock pick"):
                frame.pixels = np.zeros_like(frame.pixels)
        return frames

    outcomes = run_jobs(JOBS[:3], plan, tmp_path, blackening, scheduler)
    retried, rejected, fine = outcomes
    assert retried.image is not None
    assert retried.image.params["seed"] == first_seed + 1
    assert retried.image.params["attempts"] == 2
    assert retried.image.params["rejected_attempts"] == ["all-black image"]
    assert frames_are_not_black(tmp_path, retried)
    assert rejected.image is None and rejected.generated
    assert "after 3 attempts" in rejected.error and "all-black image" in rejected.error
    assert fine.image.params["attempts"] == 1
    # Retries join later batches: 3 first attempts, then job 0's 2nd and job 1's 2nd and 3rd.
    assert sum(len(c) for c in calls) == 6

    calls.clear()
    again = run_jobs(JOBS[:3], plan, tmp_path, blackening, scheduler)
    assert calls == [] and again[1].error == rejected.error and not again[1].generated
    # A raised bound tries the rejected job again, continuing after the seeds already spent.
    more = plan_for(tiny_config(tiny_model, max_regenerations=3))
    [still] = run_jobs(JOBS[1:2], more, tmp_path, blackening, scheduler)
    assert calls == [[derive_seed(config.seed, JOBS[1].sample_key) + 3]]
    assert "after 4 attempts" in still.error


def frames_are_not_black(artifacts: Path, outcome) -> bool:
    return int(pixels(artifacts, outcome).max()) > 8


def test_safety_checker_policy_is_an_explicit_switch(flagging_model, tiny_model, tmp_path):
    # Off (default): the model's checker is not loaded, images come through for review.
    [kept] = generate_sd_images(JOBS[:1], tiny_config(flagging_model), tmp_path / "off")
    assert kept.image is not None and kept.image.params["safety_checker"] is False
    # On: the checker flags (here: everything), diffusers blacks the image out, we retry then reject.
    on = tiny_config(flagging_model, safety_checker=True, max_regenerations=1)
    [flagged] = generate_sd_images(JOBS[:1], on, tmp_path / "on")
    assert flagged.image is None
    assert "after 2 attempts" in flagged.error and "safety checker flagged" in flagged.error
    # On, for a model without a checker: an error, not a silent no-op.
    with pytest.raises(ValueError, match="ships no safety checker"):
        generate_sd_images(JOBS[:1], tiny_config(tiny_model, safety_checker=True), tmp_path)


def test_scheduler_is_chosen_by_class_name(tiny_model, tmp_path):
    default = generate_sd_images(JOBS[:1], tiny_config(tiny_model), tmp_path)[0].image
    euler = generate_sd_images(
        JOBS[:1], tiny_config(tiny_model, scheduler="EulerDiscreteScheduler"), tmp_path
    )[0].image
    assert euler.params["scheduler"] == "EulerDiscreteScheduler"
    assert euler.image_id != default.image_id
    with pytest.raises(ValueError, match="not a diffusers scheduler.*EulerDiscreteScheduler"):
        generate_sd_images(
            JOBS[1:2], tiny_config(tiny_model, scheduler="NoSuchScheduler"), tmp_path
        )


_HUB_RUN = """
import json, sys
from pathlib import Path
from generators.sd_images import SDJob, generate_sd_images
from schemas.config import ImageModelConfig
config = ImageModelConfig(path="safetyforge/tiny-sd", steps=2, width=64, height=64, device="cpu")
[out] = generate_sd_images([SDJob(sample_key="k", key_phrase="bomb")], config, Path(sys.argv[1]))
print(json.dumps({"generated": out.generated, "params": out.image.params,
                  "diffusers_imported": "diffusers" in sys.modules}))
"""


def test_hub_id_runs_offline_from_the_cache_and_a_rerun_skips_diffusers(tiny_model, tmp_path):
    """Real huggingface_hub + diffusers resolution, in fresh processes (both read env at import)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--safetyforge--tiny-sd"
    shutil.copytree(tiny_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = os.environ | {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}

    def run() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", _HUB_RUN, str(tmp_path / "artifacts")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run()
    assert first["generated"] and first["params"]["model_revision"] == commit
    assert first["params"]["model"] == "safetyforge/tiny-sd"
    second = run()
    assert not second["generated"] and not second["diffusers_imported"]


def test_an_empty_key_phrase_is_an_error_not_an_image(tiny_model, tmp_path):
    [outcome] = generate_sd_images(
        [SDJob(sample_key="q9", key_phrase="  ")], tiny_config(tiny_model), tmp_path
    )
    assert outcome.image is None and "empty key phrase" in outcome.error
    assert not (tmp_path / "images").exists()
