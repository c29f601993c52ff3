"""The `sd` image stage: one Stable Diffusion image per key phrase, seeded, batched, resumable.

Each job (a sample key and its key phrase) becomes the prompt `image_model.prompt_template`
(default "A photo of {key_phrase}", as in MM-SafetyBench) and a per-sample seed derived from
`image_model.seed` and the sample key, so the same config regenerates the same images on the same
hardware. Files are addressed by a hash of the generation inputs (model weights hash, prompt,
negative prompt, steps, guidance, size, scheduler, dtype, safety-checker policy, seed):
`images/sd/<id[:2]>/<id>.png` plus `<id>.json`, the ImageRecord, written last via temp file +
rename. A killed stage therefore resumes where it stopped and a re-run generates nothing (and
imports no diffusers).

Blank outputs (all black, one uniform colour, NaN from an fp16 overflow, or a safety checker's
black replacement) are regenerated with the next seed, at most `image_model.max_regenerations`
times; then the job fails with the reasons, and the failure is kept in `<id>.rejected.json` so a
re-run does not spend the same attempts again (unless max_regenerations was raised).

Safety-checker policy (`image_model.safety_checker`, default false): this project builds
red-teaming data whose key phrases name unsafe things on purpose, and every image goes to human
review, which is the safety gate. So by default a model's own checker (SD 1.x/2.x ship one,
SDXL does not) is not loaded. With `true`, the checker is kept and an image it flags counts as
blank (regenerated, then rejected with the reason); asking for it on a model that ships none is
an error rather than a silent no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from schemas._base import StrictModel
from schemas.config import ImageModelConfig
from schemas.files import write_atomic
from schemas.records import ImageRecord, stable_id

from . import sd_model
from .sd_model import Frame

Renderer = Callable[[list[str], list[int]], list[Frame]]

_SEED_SPACE = 2**63  # torch.Generator.manual_seed takes any non-negative 64-bit value
# Every channel of every pixel at or below this (of 255) is "all black": a safety checker returns
# exact zeros, a broken fp16 VAE near-zeros.
_BLACK_MAX = 8
# Max minus min at or below this is one flat colour, which no photo is.
_FLAT_RANGE = 2


class SDJob(StrictModel):
    sample_key: str  # stable id of the sample; the per-sample seed is derived from it
    key_phrase: str


class SDOutcome(StrictModel):
    job: SDJob
    image: ImageRecord | None = None
    error: str | None = None
    generated: bool = False  # False when the result came from disk


def derive_seed(global_seed: int, sample_key: str) -> int:
    digest = hashlib.sha256(f"sd-seed\x1f{global_seed}\x1f{sample_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_SPACE


def build_prompt(template: str, key_phrase: str) -> str:
    return template.format(key_phrase=key_phrase.strip())


def frame_problem(frame: Frame) -> str | None:
    """Why this frame is not a usable image, or None when it is."""
    if frame.nsfw:
        return "the safety checker flagged the image (diffusers returns it black)"
    if np.isnan(frame.pixels).any():
        return "NaN in the decoded image (fp16 overflow?)"
    pixels = to_uint8(frame.pixels)
    if int(pixels.max()) <= _BLACK_MAX:
        return "all-black image"
    if int(pixels.max()) - int(pixels.min()) <= _FLAT_RANGE:
        return "blank image (one uniform colour)"
    return None


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class SDPlan:
    """The resolved settings every image of one call shares."""

    spec: sd_model.PipelineSpec
    config: ImageModelConfig

    def image_id(self, prompt: str, seed: int) -> str:
        inputs = {
            "model": self.spec.ref.content_hash,
            "variant": self.spec.variant,
            "prompt": prompt,
            "negative_prompt": self.config.negative_prompt,
            "steps": self.config.steps,
            "guidance_scale": self.config.guidance_scale,
            "width": self.config.width,
            "height": self.config.height,
            "scheduler": self.spec.scheduler or "default",
            "dtype": self.spec.dtype,
            "safety_checker": self.spec.safety_checker,
            "seed": seed,
        }
        return stable_id("sd-image", json.dumps(inputs, sort_keys=True), length=24)

    def params(self) -> dict[str, Any]:
        """Parameters shared by every image of this plan, recorded in ImageRecord.params."""
        return {
            "model": self.spec.ref.source,
            "model_revision": self.spec.ref.revision,
            "model_hash": self.spec.ref.content_hash,
            "pipeline": sd_model.pipeline_class(self.spec.ref),
            "variant": self.spec.variant,
            "negative_prompt": self.config.negative_prompt,
            "steps": self.config.steps,
            "guidance_scale": self.config.guidance_scale,
            "width": self.config.width,
            "height": self.config.height,
            "dtype": self.spec.dtype,
            "device": self.spec.device,
            "batch_size_setting": self.config.batch_size,
            "global_seed": self.config.seed,
            "safety_checker": self.spec.safety_checker,
            "diffusers_version": version("diffusers"),
            "torch_version": version("torch"),
            "transformers_version": version("transformers"),
        }


def plan_for(config: ImageModelConfig) -> SDPlan:
    if config.path is None:
        raise ValueError("image_model.path is not set: no Stable Diffusion model to run")
    ref = sd_model.resolve_model(config.path, config.revision)
    if config.safety_checker and not sd_model.has_safety_checker(ref):
        raise ValueError(
            f"image_model.safety_checker is true but {config.path!r} ships no safety checker; "
            "set it to false (images are then screened in review) or use a model that has one"
        )
    device = sd_model.resolve_device(config.device)
    spec = sd_model.PipelineSpec(
        ref=ref,
        variant=config.variant,
        dtype=sd_model.resolve_dtype(config.dtype, device),
        device=device,
        scheduler=config.scheduler,
        safety_checker=config.safety_checker,
    )
    return SDPlan(spec=spec, config=config)


def pipeline_renderer(plan: SDPlan) -> tuple[Renderer, Callable[[], str]]:
    """A renderer that loads the pipeline on first use, and a getter for its scheduler's name."""
    cfg = plan.config

    def render(prompts: list[str], seeds: list[int]) -> list[Frame]:
        return sd_model.render_batch(
            sd_model.load_pipeline(plan.spec),
            prompts,
            seeds,
            negative_prompt=cfg.negative_prompt,
            steps=cfg.steps,
            guidance_scale=cfg.guidance_scale,
            width=cfg.width,
            height=cfg.height,
        )

    return render, lambda: sd_model.scheduler_name(sd_model.load_pipeline(plan.spec))


def generate_sd_images(
    jobs: list[SDJob],
    config: ImageModelConfig,
    artifacts_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> list[SDOutcome]:
    """Make (or find on disk) one SD image per job; outcomes come back in job order.

    `progress(n)` is called with the number of jobs just finished. Raises ValueError for a
    config that cannot run at all (no model, unknown scheduler, checker asked for but absent).
    """
    with sd_model.PIPELINE_LOCK:
        plan = plan_for(config)
        render, scheduler = pipeline_renderer(plan)
        return run_jobs(jobs, plan, artifacts_dir, render, scheduler, progress)


@dataclass
class _Task:
    image_id: str
    prompt: str
    base_seed: int
    job: SDJob
    reasons: list[str] = field(default_factory=list)

    @property
    def seed(self) -> int:
        return (self.base_seed + len(self.reasons)) % _SEED_SPACE


def _paths(artifacts_dir: Path, image_id: str) -> tuple[Path, Path, Path]:
    folder = artifacts_dir / "images" / "sd" / image_id[:2]
    return (
        folder / f"{image_id}.png",
        folder / f"{image_id}.json",
        folder / f"{image_id}.rejected.json",
    )


def _load_done(artifacts_dir: Path, task: _Task, max_attempts: int) -> SDOutcome | None:
    """The finished result on disk, else None; a rejection under a since-raised bound is not
    finished: its failed attempts are put back on `task`, so the retry continues with new seeds."""
    png, sidecar, rejected = _paths(artifacts_dir, task.image_id)
    if sidecar.is_file() and png.is_file():
        record = ImageRecord.model_validate_json(sidecar.read_text("utf-8"))
        return SDOutcome(job=task.job, image=record)
    if rejected.is_file():
        data = json.loads(rejected.read_text("utf-8"))
        if len(data["reasons"]) >= max_attempts:
            return SDOutcome(job=task.job, error=data["error"])
        task.reasons = list(data["reasons"])
    return None


def _encode_png(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _save_image(
    artifacts_dir: Path, task: _Task, frame: Frame, shared: dict[str, Any]
) -> ImageRecord:
    png, sidecar, _ = _paths(artifacts_dir, task.image_id)
    data = _encode_png(frame.pixels)
    write_atomic(png, data)
    height, width = frame.pixels.shape[:2]
    record = ImageRecord(
        image_id=task.image_id,
        path=png.relative_to(artifacts_dir).as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        kind="sd",
        text=task.prompt,
        width=width,
        height=height,
        params={
            **shared,
            "prompt": task.prompt,
            "sample_key": task.job.sample_key,
            "base_seed": task.base_seed,
            "seed": task.seed,
            "attempts": len(task.reasons) + 1,
            "rejected_attempts": list(task.reasons),
        },
        pillow_version=version("pillow"),
    )
    # The sidecar goes last: its presence is what marks the image finished.
    write_atomic(sidecar, record.model_dump_json(indent=2).encode())
    return record


def _reject(artifacts_dir: Path, task: _Task) -> str:
    _, _, rejected = _paths(artifacts_dir, task.image_id)
    first, last = task.base_seed, task.seed
    error = (
        f"no usable image after {len(task.reasons)} attempts (seeds {first}..{last}): "
        + "; ".join(dict.fromkeys(task.reasons))
    )
    payload = {"error": error, "reasons": task.reasons}
    write_atomic(rejected, json.dumps(payload, indent=2).encode())
    return error


def batch_size(plan: SDPlan) -> int:
    """The configured batch size, or for "auto" the one that fits the device's free memory
    (loads the pipeline and runs a one-step probe, once per process and setting)."""
    cfg = plan.config
    if isinstance(cfg.batch_size, int):
        return cfg.batch_size
    return sd_model.probe_batch_size(
        plan.spec, cfg.width, cfg.height, cfg.guidance_scale
    ).batch_size


def run_jobs(
    jobs: list[SDJob],
    plan: SDPlan,
    artifacts_dir: Path,
    render: Renderer,
    scheduler: Callable[[], str],
    progress: Callable[[int], None] | None = None,
) -> list[SDOutcome]:
    """The stage's logic over any renderer: skip what is on disk, batch the rest, retry blanks."""
    cfg = plan.config
    max_attempts = cfg.max_regenerations + 1
    report = progress or (lambda n: None)
    done: dict[str, SDOutcome] = {}
    tasks: dict[str, _Task] = {}
    ids: list[str] = []
    for job in jobs:
        prompt = build_prompt(cfg.prompt_template, job.key_phrase)
        base_seed = derive_seed(cfg.seed, job.sample_key)
        image_id = plan.image_id(prompt, base_seed)
        ids.append(image_id)
        if image_id in done or image_id in tasks:
            continue
        if not job.key_phrase.strip():
            done[image_id] = SDOutcome(job=job, error="empty key phrase: nothing to depict")
            continue
        task = _Task(image_id, prompt, base_seed, job)
        if (found := _load_done(artifacts_dir, task, max_attempts)) is not None:
            done[image_id] = found
        else:
            tasks[image_id] = task
    # Duplicate jobs share one image; progress counts jobs, so count them per image id.
    per_image = Counter(ids)
    if done:
        report(sum(per_image[i] for i in done))

    queue = deque(tasks.values())
    shared: dict[str, Any] | None = None
    size = batch_size(plan) if queue else 1
    while queue:
        batch = [queue.popleft() for _ in range(min(size, len(queue)))]
        frames = render([t.prompt for t in batch], [t.seed for t in batch])
        if shared is None:
            shared = {**plan.params(), "scheduler": scheduler(), "batch_size": size}
        finished = 0
        for task, frame in zip(batch, frames, strict=True):
            problem = frame_problem(frame)
            if problem is None:
                record = _save_image(artifacts_dir, task, frame, shared)
                done[task.image_id] = SDOutcome(job=task.job, image=record, generated=True)
            else:
                task.reasons.append(problem)
                if len(task.reasons) < max_attempts:
                    queue.append(task)
                    continue
                error = _reject(artifacts_dir, task)
                done[task.image_id] = SDOutcome(job=task.job, error=error, generated=True)
            finished += per_image[task.image_id]
        if finished:
            report(finished)

    return [
        done[image_id].model_copy(update={"job": job})
        for job, image_id in zip(jobs, ids, strict=True)
    ]
