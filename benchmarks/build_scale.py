"""A whole build at MM-SafetyBench size, ours against the reference way, at 1x and 4x that size.

Questions: the MM-SafetyBench importer reads a generated file set in the published format (13
`processed_questions/NN-Name.json` files, 1,680 records at 1x, every key phrase distinct:
scripts/make_import_fixtures.py --distinct --scale K). Variants text_only, typo, figstep and
figstep_pro, with the read-back (OCR) check on. Each side runs as its own process, measured
from outside: wall time, CPU seconds (the process and every descendant), CPU use (CPU s /
wall s), peak RSS (the process tree's summed RSS, sampled every 50 ms) and files created.

- ours: `safetyforge build` end to end through the Prefect flow (its ephemeral API included):
  import, offline fill of the FigStep statements, rendering with read-back checks running
  concurrently, review, publish. Its stages are the run summary's `stage_s`.
- reference: one process that renders and saves each image as the originals' scripts do
  (benchmarks/render.py's baselines: TYPO as JPEG like MM-SafetyBench's imgs/, FigStep and
  FigStep-Pro as PNG), then runs the tesseract command on each image in turn (pytesseract: one
  process per image, full size). It draws the same texts (the statements ours filled in).

    .venv/bin/python benchmarks/build_scale.py                         # 1x and 4x: long
    .venv/bin/python benchmarks/build_scale.py --scales 1              # 1x only
    .venv/bin/python benchmarks/build_scale.py --scales 1,2 --max-per-scenario 3   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402

VARIANTS = ["text_only", "typo", "figstep", "figstep_pro"]


def write_questions(folder: Path, scale: int) -> Path:
    """The MM-SafetyBench file set at `scale` times its size, every key phrase distinct."""
    from scripts.make_import_fixtures import BANK, write_mm_safetybench

    bank = yaml.safe_load(BANK.read_text(encoding="utf-8"))
    write_mm_safetybench(folder, bank, random.Random(0), scale=scale, distinct=True)
    return folder


def ours_config(questions: Path, artifacts: Path, max_per_scenario: int | None) -> dict:
    return {
        "name": "build-scale",
        "taxonomy": "mm-safetybench",
        "questions_from": {
            "format": "mm-safetybench",
            "path": str(questions / "processed_questions"),
            "tiny_ids": str(questions / "TinyVersion_ID_List.json"),
            "max_per_scenario": max_per_scenario,
        },
        "variants": VARIANTS,
        "artifacts_dir": str(artifacts),
        "llm": {"provider": "offline"},
        "review": {"mode": "auto", "ocr_check": True},
        "release": {"name": "build-scale", "version": "0.1.0"},
    }


def measured(command: list[str], env: dict[str, str]) -> dict:
    """Run `command` as a child; its wall s, CPU s (descendants included), peak summed RSS."""
    from render import Sampler

    with Sampler() as sampler:
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:4])} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return {
        "wall_s": wall,
        "cpu_s": sampler.cpu,
        "peak_mib": sampler.peak / 2**20,
        "stdout": done.stdout,
    }


def files_under(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def run_ours(work: Path, questions: Path, max_per_scenario: int | None) -> dict:
    artifacts = work / "ours"
    config = work / "ours.yaml"
    config.write_text(yaml.safe_dump(ours_config(questions, artifacts, max_per_scenario)))
    env = os.environ | {"PYTHONPATH": str(ROOT), "PREFECT_HOME": str(work / "prefect")}
    env.pop("PREFECT_API_URL", None)
    result = measured([sys.executable, "-m", "flows.cli", "build", "-c", str(config)], env)
    from catalog import Catalog

    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        [run] = catalog.records("runs")
        texts = [
            (e.key_phrase, e.figstep_statement)
            for e in catalog.records("extractions")
            if e.status == "accepted"
        ]
        checks = len(catalog.records("ocr_checks"))
    summary = run.summary
    result.update(
        stages=summary["stage_s"],
        workers=summary["workers"]["workers"],
        images=files_under(artifacts / "images"),
        files=files_under(artifacts),
        checks=checks,
        questions=len(texts),
        accepted=summary["samples_accepted"],
        rejections=summary["rejections"],
    )
    (work / "texts.json").write_text(json.dumps(texts))
    return result


def run_reference(work: Path) -> dict:
    out = work / "reference"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, __file__, "--reference", str(work / "texts.json"), str(out)]
    result = measured(command, env)
    result.update(json.loads(result["stdout"].strip().splitlines()[-1]))
    result["files"] = files_under(out)
    return result


def reference_side(texts_file: Path, out: Path) -> None:
    """The reference way, in this process: render and save everything, then OCR each image."""
    import pytesseract
    from render import _BASELINES

    from typography.fonts import resolve_font

    texts = json.loads(texts_file.read_text())
    out.mkdir(parents=True)
    fonts = {v: resolve_font(name).path for v, (_, name) in _BASELINES.items()}
    start = time.perf_counter()
    for n, (key_phrase, statement) in enumerate(texts):
        for variant, text, suffix in [
            ("typo", key_phrase, "jpg"),
            ("figstep", statement, "png"),
            ("figstep_pro", key_phrase, "png"),
        ]:
            draw, _ = _BASELINES[variant]
            draw(text, out / f"{variant}_{n}.{suffix}", str(fonts[variant]))
    rendered = time.perf_counter()
    images = sorted(out.iterdir())
    for image in images:
        pytesseract.image_to_string(str(image), config="--psm 6")
    done = time.perf_counter()
    stages = {"render": rendered - start, "ocr": done - rendered}
    print(json.dumps({"stages": stages, "images": len(images), "questions": len(texts)}))


def run_ours_at(scale: int, root: Path, max_per_scenario: int | None) -> dict:
    work = root / f"x{scale}"
    questions = write_questions(work / "questions", scale)
    cap = None if max_per_scenario is None else max_per_scenario * scale
    return run_ours(work, questions, cap)


# Ours' stages in flow order; `other` is the rest of its wall time (process start, imports,
# the Prefect API's start).
STAGES = ("questions", "derive", "images", "read_back", "review", "publish")


def report(results: dict[int, dict[str, dict]]) -> None:
    print(
        f"{'scale':>5} {'side':<9} {'questions':>9} {'wall s':>8} {'CPU s':>8} {'CPU %':>6} "
        f"{'peak MiB':>8} {'images':>7} {'files':>7}  stages (s)"
    )
    for scale, sides in results.items():
        for side, r in sides.items():
            laps = {k: r["stages"][k] for k in STAGES if k in r["stages"]} or r["stages"]
            if side == "ours":
                laps["other"] = r["wall_s"] - sum(laps.values())
            stages = "  ".join(f"{k} {v:.1f}" for k, v in laps.items())
            print(
                f"{scale:>4}x {side:<9} {r['questions']:>9} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                f"{r['cpu_s'] / r['wall_s']:>6.0%} {r['peak_mib']:>8.0f} {r['images']:>7} "
                f"{r['files']:>7}  {stages}"
            )
        if "reference" not in sides:
            continue
        ours, ref = sides["ours"], sides["reference"]
        print(
            f"{scale:>4}x ratio reference/ours: wall {ref['wall_s'] / ours['wall_s']:.1f}x, "
            f"CPU {ref['cpu_s'] / ours['cpu_s']:.1f}x  (ours: {ours['workers']} workers, "
            f"{ours['checks']} read-back checks, {ours['accepted']} samples accepted)"
        )
    scales = sorted(results)
    for small, big in zip(scales, scales[1:], strict=False):
        ours_small, ours_big = results[small]["ours"], results[big]["ours"]
        factor = big / small
        print(
            f"ours {small}x -> {big}x (input x{factor:g}): wall x{ours_big['wall_s'] / ours_small['wall_s']:.2f}, "
            f"CPU x{ours_big['cpu_s'] / ours_small['cpu_s']:.2f}, "
            f"peak RSS x{ours_big['peak_mib'] / ours_small['peak_mib']:.2f} "
            f"(linear: x{factor:g})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", default="1,4", help="comma-separated multiples of 1,680")
    parser.add_argument(
        "--max-per-scenario",
        type=int,
        help="a small run: at most this many questions per scenario at 1x (times the scale)",
    )
    parser.add_argument(
        "--reference-scales",
        help="scales that also run the reference side (default: every scale)",
    )
    parser.add_argument("--dir", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--reference", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        reference_side(*args.reference)
        return
    root = args.dir or Path(tempfile.mkdtemp(prefix="safetyforge-build-scale-"))
    scales = [int(s) for s in args.scales.split(",")]
    print(f"work folder {root}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with_reference = (
        scales
        if args.reference_scales is None
        else [int(s) for s in args.reference_scales.split(",") if s]
    )
    # Ours at every scale first, then the (much slower) reference side.
    results: dict[int, dict[str, dict]] = {}
    runs = [(s, "ours") for s in scales] + [(s, "reference") for s in scales if s in with_reference]
    for scale, side in runs:
        work = root / f"x{scale}"
        if side == "ours":
            results[scale] = {"ours": run_ours_at(scale, root, args.max_per_scenario)}
        else:
            results[scale]["reference"] = run_reference(work)
        if args.json:  # what is done so far, in case a long run is stopped
            args.json.write_text(json.dumps(results, indent=2, default=str))
    for sides in results.values():
        for r in sides.values():
            r.pop("stdout")
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
