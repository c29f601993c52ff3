"""Which diffusion model to run, where, and the one pipeline per process that runs it.

Identity is resolved without importing diffusers (a re-run that finds every image on disk never
pays the 7-10 s import): a hub id resolves to its commit sha through the local cache
(`HF_HUB_OFFLINE=1` works), a local folder to a fingerprint of its files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Weights are fingerprinted by size plus their first and last MiB rather than read whole: a 7 GB
# SDXL folder then costs milliseconds, and any retrained or re-quantised file still changes.
_FINGERPRINT_CHUNK = 1 << 20

# One pipeline per process, used by one caller at a time: two pipelines on one GPU only
# fight over memory, and a thread runner may call the stage concurrently.
PIPELINE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelRef:
    source: str  # absolute local folder, or a hub repo id
    revision: str | None  # hub commit sha; None for a local folder
    content_hash: str  # commit sha or local fingerprint: what identifies the weights
    model_index: str  # model_index.json text: pipeline class and its components


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(folder).as_posix()}\x1f{size}\x1f".encode())
        with file.open("rb") as handle:
            if size <= 2 * _FINGERPRINT_CHUNK:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_FINGERPRINT_CHUNK))
                handle.seek(-_FINGERPRINT_CHUNK, 2)
                digest.update(handle.read())
    return "sha256:" + digest.hexdigest()


def resolve_model(path: str, revision: str | None) -> ModelRef:
    """Pin `image_model.path` (+ revision) to exact weights; raise ValueError with a fix if absent."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        index = folder / "model_index.json"
        if not index.is_file():
            raise ValueError(f"image_model.path {path!r} is a folder without model_index.json")
        folder = folder.resolve()
        return ModelRef(str(folder), None, _fingerprint(folder), index.read_text("utf-8"))

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        index_file = Path(hf_hub_download(path, "model_index.json", revision=revision))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ValueError(
            f"image_model.path {path!r} is neither a local folder nor a hub model in reach "
            f"(offline: download it first with `hf download {path}`): {exc}"
        ) from None
    # The cache lays files out as .../snapshots/<commit sha>/<file>.
    commit = index_file.parent.name
    return ModelRef(path, commit, commit, index_file.read_text("utf-8"))


def pipeline_class(ref: ModelRef) -> str:
    """The diffusers pipeline class the model's model_index.json names."""
    return str(json.loads(ref.model_index).get("_class_name", "?"))


def has_safety_checker(ref: ModelRef) -> bool:
    component = json.loads(ref.model_index).get("safety_checker")
    return isinstance(component, list) and component[0] is not None


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto`: half precision on accelerators (fp16 is what SD checkpoints ship), fp32 on CPU."""
    if dtype != "auto":
        return dtype
    return "float32" if device == "cpu" else "float16"


@dataclass(frozen=True)
class PipelineSpec:
    ref: ModelRef
    variant: str | None
    dtype: str
    device: str
    scheduler: str | None
    safety_checker: bool


@dataclass
class Frame:
    """One decoded image: float RGB in [0, 1] (NaN kept, to be detected) and the checker's verdict."""

    pixels: np.ndarray
    nsfw: bool


def _scheduler(name: str, current: Any) -> Any:
    import diffusers
    from diffusers import SchedulerMixin

    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        known = ", ".join(sorted(c.__name__ for c in current.compatibles))
        raise ValueError(
            f"image_model.scheduler {name!r} is not a diffusers scheduler class; "
            f"compatible with this model: {known}"
        )
    return cls.from_config(current.config)


@functools.lru_cache(maxsize=1)
def load_pipeline(spec: PipelineSpec) -> Any:
    """Load once per process (maxsize=1: switching models frees the previous one)."""
    import torch
    from diffusers import AutoPipelineForText2Image

    kwargs: dict[str, Any] = {"dtype": getattr(torch, spec.dtype), "variant": spec.variant}
    if spec.ref.revision is not None:
        kwargs["revision"] = spec.ref.revision
    if has_safety_checker(spec.ref) and not spec.safety_checker:
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = AutoPipelineForText2Image.from_pretrained(spec.ref.source, **kwargs)
    if spec.scheduler is not None:
        pipe.scheduler = _scheduler(spec.scheduler, pipe.scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(spec.device)


def render_batch(
    pipe: Any,
    prompts: list[str],
    seeds: list[int],
    *,
    negative_prompt: str | None,
    steps: int,
    guidance_scale: float,
    width: int,
    height: int,
) -> list[Frame]:
    """One forward pass for many prompts; frame i depends only on (prompts[i], seeds[i])."""
    import torch

    # One generator per prompt makes each image independent of its batch. They live on the CPU
    # so the starting noise is the same on every device; diffusers moves it to the GPU.
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    # No negative prompt: the pipeline's own default (PixArt's is "", and it refuses None).
    negative = (
        {} if negative_prompt is None else {"negative_prompt": [negative_prompt] * len(prompts)}
    )
    with torch.inference_mode():
        out = pipe(
            prompt=prompts,
            **negative,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
            generator=generators,
            output_type="np",
        )
    flags = getattr(out, "nsfw_content_detected", None) or [False] * len(prompts)
    return [
        Frame(pixels=np.asarray(image), nsfw=bool(flag))
        for image, flag in zip(out.images, flags, strict=True)
    ]


def scheduler_name(pipe: Any) -> str:
    return type(pipe.scheduler).__name__


BATCH_CANDIDATES = (1, 2, 4, 8, 16)
# Share of the free memory a batch may take: the rest absorbs what the one-image probe does not
# show (allocator fragmentation, a VAE decode that is not exactly linear in the batch).
BATCH_HEADROOM = 0.8


def pick_batch_size(
    free_bytes: int, per_image_bytes: int, candidates: tuple[int, ...] = BATCH_CANDIDATES
) -> int:
    """The largest candidate whose images fit in BATCH_HEADROOM of `free_bytes` (at least 1)."""
    budget = free_bytes * BATCH_HEADROOM
    fitting = [c for c in candidates if c * max(1, per_image_bytes) <= budget]
    return max(fitting, default=1)


@dataclass(frozen=True)
class BatchProbe:
    """What `image_model.batch_size: auto` measured and chose."""

    batch_size: int
    free_bytes: int
    per_image_bytes: int


@functools.lru_cache(maxsize=4)
def probe_batch_size(
    spec: PipelineSpec, width: int, height: int, guidance_scale: float
) -> BatchProbe:
    """Measure one image's memory (a one-step generation at the build's size: the denoiser's
    activations and the VAE decode) and pick the batch size that fits the free memory."""
    import resource

    import psutil
    import torch

    pipe = load_pipeline(spec)

    def probe() -> None:
        render_batch(
            pipe,
            ["probe"],
            [0],
            negative_prompt=None,
            steps=1,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
        )

    if spec.device.startswith("cuda"):
        torch.cuda.synchronize()
        free, _ = torch.cuda.mem_get_info()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        probe()
        per_image = torch.cuda.max_memory_allocated() - before
    else:
        # Process peak RSS (KiB on Linux) after the probe minus the RSS before it: an upper bound.
        free = psutil.virtual_memory().available
        before = psutil.Process().memory_info().rss
        probe()
        per_image = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    per_image = max(per_image, 1 << 20)
    return BatchProbe(pick_batch_size(free, per_image), int(free), int(per_image))
