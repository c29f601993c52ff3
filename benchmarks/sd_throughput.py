"""SD stage throughput: one-by-one (batch 1, the baseline) vs batched, same prompts, one run.

Runs the stage itself (generate_sd_images: generation, blank checks, PNG + sidecar writes) into
fresh folders, after a warm-up that loads the pipeline and runs each batch shape once.

  .venv/bin/python benchmarks/sd_throughput.py                       # tiny random pipeline, CPU
  python benchmarks/sd_throughput.py --model stabilityai/sdxl-turbo --device cuda \\
      --dtype float16 --variant fp16 --batch-size 8 --steps 4 --guidance 0 --size 512
  python benchmarks/sd_throughput.py --model stable-diffusion-v1-5/stable-diffusion-v1-5 \\
      --device cuda --dtype float16 --batch-size 8 --steps 30 --size 512
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generators.sd_images import SDJob, generate_sd_images  # noqa: E402
from generators.sd_model import resolve_device  # noqa: E402
from generators.sd_tiny import build_tiny_pipeline  # noqa: E402
from schemas.config import ImageModelConfig  # noqa: E402

PHRASES = ["hacking tools", "counterfeit money", "lock picking", "a phishing email", "explosives"]


def _peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    # Process peak RSS so far (Linux reports KiB); it only grows, so read it per phase in order.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _timed(
    jobs: list[SDJob], config: ImageModelConfig, out: Path, device: str
) -> tuple[float, float]:
    _reset_peak(device)
    start = time.perf_counter()
    outcomes = generate_sd_images(jobs, config, out)
    seconds = time.perf_counter() - start
    failed = [o.error for o in outcomes if o.image is None]
    if failed:
        raise SystemExit(f"{len(failed)} images failed: {failed[0]}")
    return seconds, _peak_memory_mb(device)


def _max_pixel_diff(a: Path, b: Path) -> int:
    worst = 0
    for png in sorted(a.rglob("*.png")):
        other = b / png.relative_to(a)
        x = np.asarray(Image.open(png)).astype(int)
        worst = max(worst, int(np.abs(x - np.asarray(Image.open(other)).astype(int)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="hub id or local folder; default: a tiny random pipeline")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"]
    )
    parser.add_argument("--variant", default=None, help="weight file variant, e.g. fp16")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--images", type=int, default=16, help="prompts per mode")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        root = Path(tmp)
        model = args.model or str(build_tiny_pipeline(root / "tiny-model"))
        common = {
            "path": model,
            "device": args.device,
            "dtype": args.dtype,
            "variant": args.variant,
            "steps": args.steps,
            "guidance_scale": args.guidance,
            "width": args.size,
            "height": args.size,
        }
        one = ImageModelConfig(**common, batch_size=1)
        batched = ImageModelConfig(**common, batch_size=args.batch_size)
        jobs = [
            SDJob(sample_key=f"bench-{i}", key_phrase=PHRASES[i % len(PHRASES)])
            for i in range(args.images)
        ]
        warm = [SDJob(sample_key=f"warm-{i}", key_phrase="a cat") for i in range(args.batch_size)]
        device = resolve_device(args.device)

        start = time.perf_counter()
        generate_sd_images(warm[:1], one, root / "warm")
        generate_sd_images(warm, batched, root / "warm")
        print(f"model {model if args.model else '(tiny random pipeline)'}")
        print(
            f"device {device}  dtype {args.dtype}  steps {args.steps}  guidance {args.guidance}  "
            f"size {args.size}x{args.size}  images per mode {args.images}  "
            f"(load + warm-up {time.perf_counter() - start:.1f} s)"
        )
        seconds_one, mem_one = _timed(jobs, one, root / "one", device)
        seconds_batched, mem_batched = _timed(jobs, batched, root / "batched", device)

        kind = "CUDA max allocated" if device.startswith("cuda") else "process peak RSS so far"
        print(f"{'mode':<12} {'batch':>5} {'seconds':>8} {'images/s':>9} {'peak MiB':>9}  ({kind})")
        for name, batch, seconds, mem in [
            ("one-by-one", 1, seconds_one, mem_one),
            ("batched", args.batch_size, seconds_batched, mem_batched),
        ]:
            print(
                f"{name:<12} {batch:>5} {seconds:>8.2f} {args.images / seconds:>9.2f} {mem:>9.0f}"
            )
        print(f"batched / one-by-one throughput: {seconds_one / seconds_batched:.2f}x")
        diff = _max_pixel_diff(root / "one", root / "batched")
        print(f"max pixel difference between the two modes: {diff} of 255")


if __name__ == "__main__":
    main()
