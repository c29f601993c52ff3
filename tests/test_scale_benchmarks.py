"""Smoke runs of the scale benchmarks' small modes: the commands the README gives run, and
print the figures they promise (the figures themselves are measured by hand, not asserted)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], tmp_path: Path) -> str:
    env = os.environ | {"PYTHONPATH": str(REPO), "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_build_scale_small_mode_runs_both_sides(tmp_path):
    figures = tmp_path / "figures.json"
    out = _run(
        [
            "benchmarks/build_scale.py",
            "--scales",
            "1",
            "--max-per-scenario",
            "1",
            "--dir",
            str(tmp_path / "work"),
            "--json",
            str(figures),
        ],
        tmp_path,
    )
    assert re.search(r"1x ratio reference/ours: wall [\d.]+x, CPU [\d.]+x", out), out
    sides = json.loads(figures.read_text())["1"]
    ours, reference = sides["ours"], sides["reference"]
    assert ours["questions"] == reference["questions"] == 13  # one per scenario
    # text_only, typo, figstep, figstep_pro: accepted, or rejected for what the text is (a key
    # phrase with more long words than FigStep-Pro fragments), never by the read-back check.
    # (The records past max-per-scenario are counted as surplus questions.)
    samples = {k: n for k, n in ours["rejections"].items() if k.startswith("sample:")}
    rejected = sum(samples.values())
    assert ours["accepted"] + rejected == 4 * 13, ours["rejections"]
    assert set(samples) <= {"sample: image"}, samples  # none by the read-back ("sample: ocr")
    assert ours["checks"] == 3 * 13 - rejected  # every drawn image read back once
    assert set(ours["stages"]) == {
        "questions",
        "derive",
        "images",
        "read_back",
        "text_leakage",
        "review",
        "publish",
    }
    assert 1 <= ours["workers"] <= os.cpu_count()
    # The reference draws one TYPO, one FigStep and 2+ FigStep-Pro fragments per question.
    assert reference["images"] >= 4 * 13 and reference["files"] == reference["images"]
    assert min(ours["peak_mib"], reference["peak_mib"], ours["cpu_s"], reference["cpu_s"]) > 0


def test_sd_throughput_cpu_path_prints_the_batch_table(tmp_path):
    out = _run(
        [
            "benchmarks/sd_throughput.py",
            "--architecture",
            "sd",
            "--batch-sizes",
            "1,2",
            "--images",
            "2",
            "--steps",
            "1",
            "--threads",
            "1",
        ],
        tmp_path,
    )
    rows = re.findall(r"^\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+\d+\s+0$", out, re.MULTILINE)
    assert rows == ["1", "2"], out
    assert re.search(r"best batch size [12]: [\d.]+x one-by-one", out)
    assert re.search(r"max pixel difference, batch [12] vs one-by-one: [01] of 255", out)
    assert re.search(r"batch_size auto: free \d+ MiB, one image \d+ MiB -> batch \d+", out)


def test_the_gpu_runs_sdxl_is_sdxl_base_in_size(monkeypatch, tmp_path):
    """Built on the meta device (shapes only): the parameter counts of SDXL base's UNet and VAE."""
    import diffusers

    sys.path.insert(0, str(REPO / "benchmarks"))
    from sd_throughput import build_full_size_sdxl

    built = {}
    monkeypatch.setattr(
        diffusers.StableDiffusionXLPipeline,
        "save_pretrained",
        lambda pipe, folder, **_: built.setdefault("pipe", pipe),
    )
    build_full_size_sdxl(tmp_path, "meta", "float16")
    pipe = built["pipe"]

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(pipe.unet) == 2_567_463_684
    assert count(pipe.vae) == 83_653_863
    assert str(pipe.unet.dtype) == str(pipe.text_encoder_2.dtype) == "torch.float16"
    assert pipe.text_encoder_2.config.projection_dim == 1280
