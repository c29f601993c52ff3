"""SD stage throughput by batch size: one-by-one (batch 1, the baseline) vs batches of 4, 8, 16,
the same prompts, one run; peak memory per batch size; what `image_model.batch_size: auto` picks.

Runs the stage itself (generate_sd_images: generation, blank checks, PNG + sidecar writes) into
fresh folders, after a warm-up that loads the pipeline and runs each batch shape once. Blank
frames are not regenerated here (max_regenerations 0), so every batch size does the same work.

The model is a hub id or folder (--model), or one built here with random weights (nothing is
downloaded): a tiny pipeline of --architecture (sd, sdxl, pixart; the CPU default), or with
--full-size SDXL base's published architecture (2.6 B-parameter UNet, both CLIP text encoders,
its VAE) in --dtype, for a GPU machine that cannot reach the hub: the images are noise, the
work per image is SDXL's.

  .venv/bin/python benchmarks/sd_throughput.py                          # tiny SDXL, CPU, 64 px
  python benchmarks/sd_throughput.py --device cuda --dtype float16 --full-size --size 1024 \\
      --steps 8 --images 16                                             # the GPU run (README)
  python benchmarks/sd_throughput.py --model stabilityai/stable-diffusion-xl-base-1.0 \\
      --variant fp16 --device cuda --dtype float16 --size 1024 --steps 30
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

from generators import sd_model  # noqa: E402
from generators.sd_images import SDJob, generate_sd_images, plan_for  # noqa: E402
from generators.sd_model import resolve_device, resolve_dtype  # noqa: E402
from generators.sd_tiny import ARCHITECTURES, build_tiny_pipeline  # noqa: E402
from schemas.config import ImageModelConfig  # noqa: E402

PHRASES = ["hacking tools", "counterfeit money", "lock picking", "a phishing email", "explosives"]


def build_full_size_sdxl(folder: Path, device: str, dtype: str) -> Path:
    """SDXL base's architecture (its published component configs) with random weights, saved to
    `folder`. Built on `device` in `dtype`: a 2.6 B-parameter UNet initialises in seconds on a GPU."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from generators.sd_tiny import _tokenizer

    torch.manual_seed(0)
    torch.set_default_dtype(getattr(torch, dtype))
    tokenizer = _tokenizer()

    def clip(hidden: int, layers: int, heads: int, **extra: object) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )

    with torch.device(device):
        unet = UNet2DConditionModel(
            sample_size=128,
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            use_linear_projection=True,
            cross_attention_dim=2048,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            sample_size=1024,
            scaling_factor=0.13025,
            force_upcast=True,
        )
        text_encoder = CLIPTextModel(clip(768, 12, 12, hidden_act="quick_gelu"))
        text_encoder_2 = CLIPTextModelWithProjection(
            clip(1280, 32, 20, hidden_act="gelu", projection_dim=1280)
        )
    torch.set_default_dtype(torch.float32)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=_tokenizer(),
        unet=unet,
        scheduler=scheduler,
    )
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    del pipe, unet, vae, text_encoder, text_encoder_2
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return folder


def _peak_memory_mib(device: str) -> float:
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
) -> tuple[float, float, int]:
    _reset_peak(device)
    start = time.perf_counter()
    outcomes = generate_sd_images(jobs, config, out)
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    blank = sum(o.image is None for o in outcomes)
    return seconds, _peak_memory_mib(device), blank


def _max_pixel_diff(a: Path, b: Path) -> int | None:
    worst = None
    for png in sorted(a.rglob("*.png")):
        other = b / png.relative_to(a)
        if other.is_file():
            x = np.asarray(Image.open(png)).astype(int)
            diff = int(np.abs(x - np.asarray(Image.open(other)).astype(int)).max())
            worst = diff if worst is None else max(worst, diff)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="hub id or local folder; default: one built here")
    parser.add_argument("--architecture", default="sdxl", choices=ARCHITECTURES)
    parser.add_argument(
        "--full-size", action="store_true", help="SDXL base's full architecture, random weights"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"]
    )
    parser.add_argument("--variant", default=None, help="weight file variant, e.g. fp16")
    parser.add_argument("--batch-sizes", default="1,4,8,16", help="comma-separated; 1 first")
    parser.add_argument("--images", type=int, default=16, help="prompts per batch size")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's, one per core)"
    )
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = sorted({1, *(int(s) for s in args.batch_sizes.split(","))})
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)

    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        if args.model:
            model, name = args.model, args.model
        elif args.full_size:
            model = str(build_full_size_sdxl(root / "sdxl-full", device, dtype))
            name = "SDXL base architecture, random weights (built here)"
        else:
            model = str(build_tiny_pipeline(root / "tiny", architecture=args.architecture))
            name = f"tiny random {args.architecture} pipeline (built here)"
        built = time.perf_counter() - start
        common = {
            "path": model,
            "device": device,
            "dtype": dtype,
            "variant": args.variant,
            "steps": args.steps,
            "guidance_scale": args.guidance,
            "width": args.size,
            "height": args.size,
            "max_regenerations": 0,
        }
        configs = {b: ImageModelConfig(**common, batch_size=b) for b in sizes}
        jobs = [
            SDJob(sample_key=f"bench-{i}", key_phrase=PHRASES[i % len(PHRASES)])
            for i in range(args.images)
        ]
        start = time.perf_counter()
        for b in sizes:  # load once, run each batch shape once
            warm = [SDJob(sample_key=f"warm-{b}-{i}", key_phrase="a cat") for i in range(b)]
            generate_sd_images(warm, configs[b], root / "warm")
        warmed = time.perf_counter() - start
        print(f"model {name}")
        print(
            f"device {device}  dtype {dtype}  steps {args.steps}  guidance {args.guidance}  "
            f"size {args.size}x{args.size}  images per batch size {args.images}  "
            f"CPU threads {torch.get_num_threads()}  "
            f"(build {built:.1f} s, load + warm-up {warmed:.1f} s)"
        )
        kind = "CUDA max allocated" if device.startswith("cuda") else "process peak RSS so far"
        print(
            f"{'batch':>5} {'seconds':>8} {'images/s':>9} {'vs one-by-one':>13} "
            f"{'peak MiB':>9} {'blank':>5}  ({kind})"
        )
        rates = {}
        for b in sizes:
            seconds, peak, blank = _timed(jobs, configs[b], root / f"batch-{b}", device)
            rates[b] = args.images / seconds
            print(
                f"{b:>5} {seconds:>8.2f} {rates[b]:>9.2f} {rates[b] / rates[1]:>12.2f}x "
                f"{peak:>9.0f} {blank:>5}"
            )
        best = max(rates, key=lambda b: rates[b])
        print(f"best batch size {best}: {rates[best] / rates[1]:.2f}x one-by-one (target >= 2x)")
        diff = _max_pixel_diff(root / "batch-1", root / f"batch-{best}")
        print(f"max pixel difference, batch {best} vs one-by-one: {diff} of 255")
        auto = ImageModelConfig(**common, batch_size="auto")
        probe = sd_model.probe_batch_size(plan_for(auto).spec, args.size, args.size, args.guidance)
        print(
            f"batch_size auto: free {probe.free_bytes / 2**20:.0f} MiB, "
            f"one image {probe.per_image_bytes / 2**20:.0f} MiB -> batch {probe.batch_size}"
        )


if __name__ == "__main__":
    main()
