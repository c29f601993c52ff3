"""Release build time and peak memory for synthetic samples with images (5,000 and 20,000).

Baseline: the naive writer (every row of a config, image bytes included, in one in-memory table,
then one parquet file). Ours: `catalog.release.write_release` (rows streamed in row groups into
shards). Each measurement runs in a fresh process; "peak extra" is the process's peak RSS minus
its RSS once the sample records are in memory, i.e. what the write itself needs.

    .venv/bin/python benchmarks/publish.py [--sizes 5000 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog.card import card_context  # noqa: E402
from catalog.release import LIST_COLUMNS, TEXT_COLUMNS, arrow_schema, write_release  # noqa: E402
from schemas.config import BuildConfig  # noqa: E402
from schemas.records import ImageRecord, Sample, question_id, sample_id  # noqa: E402
from schemas.variants import builtin_specs  # noqa: E402

VARIANTS = ["text_only", "typo", "figstep", "figstep_pro"]
IMAGES_PER_VARIANT = {"text_only": 0, "typo": 1, "figstep": 1, "figstep_pro": 3}
SCENARIOS = {f"scenario_{i:02d}": f"Scenario {i}" for i in range(13)}
IMAGES_PER_QUESTION = sum(IMAGES_PER_VARIANT.values())


def make_images(artifacts: Path, count: int) -> None:
    """`count` distinct 64x64 noise PNGs (~12 KB each, incompressible) and their sha256 list."""
    rng = np.random.default_rng(0)
    folder = artifacts / "images"
    folder.mkdir(parents=True, exist_ok=True)
    digests = []
    for i in range(count):
        path = folder / f"{i:06d}.png"
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            path, compress_level=1
        )
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    (artifacts / "images.json").write_text(json.dumps(digests))


def make_records(
    artifacts: Path, n_samples: int
) -> tuple[list[Sample], dict[str, ImageRecord], BuildConfig]:
    digests = json.loads((artifacts / "images.json").read_text())
    config = BuildConfig(name="bench", variants=VARIANTS)  # type: ignore[arg-type]
    samples: list[Sample] = []
    images: dict[str, ImageRecord] = {}
    scenarios = list(SCENARIOS)
    for q in range(n_samples // len(VARIANTS)):
        scenario = scenarios[q % len(scenarios)]
        text = f"Synthetic question number {q} for {scenario}?"
        qid = question_id(scenario, text)
        next_image = q * IMAGES_PER_QUESTION
        for variant in VARIANTS:
            ids = []
            for _ in range(IMAGES_PER_VARIANT[variant]):
                image_id = f"img{next_image:06d}"
                images[image_id] = ImageRecord(
                    image_id=image_id,
                    path=f"images/{next_image:06d}.png",
                    sha256=digests[next_image],
                    kind="typo",
                    width=64,
                    height=64,
                )
                ids.append(image_id)
                next_image += 1
            samples.append(
                Sample(
                    sample_id=sample_id(qid, variant),
                    question_id=qid,
                    scenario=scenario,
                    variant=variant,  # type: ignore[arg-type]
                    question=text,
                    key_phrase=f"phrase {q}",
                    phrase_type="activity",
                    prompt=f"The image shows a phrase of an activity ({variant}).",
                    image_ids=ids,
                    status="accepted",
                )
            )
    return samples, images, config


def naive_write(
    samples: list[Sample], images: dict[str, ImageRecord], artifacts: Path, out: Path
) -> None:
    """The baseline: one in-memory table per config, image bytes included, then one file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for variant in VARIANTS:
        rows = []
        for s in (s for s in samples if s.variant == variant):
            row = {c: getattr(s, c, None) or "" for c in TEXT_COLUMNS}
            row |= {c: getattr(s, c) for c in LIST_COLUMNS}
            row |= {"id": s.sample_id, "scenario_name": SCENARIOS[s.scenario]}
            cells = [
                {"bytes": (artifacts / images[i].path).read_bytes(), "path": images[i].path}
                for i in s.image_ids
            ]
            if variant == "figstep_pro":
                row["images"] = cells
            elif cells:
                row["image"] = cells[0]
            rows.append(row)
        schema = arrow_schema(builtin_specs()[variant])
        (out / variant).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / variant / "test.parquet")


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def child(mode: str, n_samples: int, artifacts: Path) -> None:
    samples, images, config = make_records(artifacts, n_samples)
    out = Path(tempfile.mkdtemp(dir=artifacts))
    ready = _rss_bytes()
    start = time.perf_counter()
    if mode == "ours":
        write_release(
            samples=samples,
            images=images,
            artifacts_dir=artifacts,
            releases_dir=out,
            config=config,
            run_id="bench",
            scenario_names=SCENARIOS,
            card_context=card_context(config, "bench", images),
        )
    else:
        naive_write(samples, images, artifacts, out)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    print(json.dumps({"seconds": seconds, "peak_extra": peak - ready, "bytes": size}))


def measure(mode: str, n_samples: int, artifacts: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(n_samples), str(artifacts)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "N", "ARTIFACTS"))
    args = parser.parse_args()
    if args.child:
        mode, n, artifacts = args.child
        child(mode, int(n), Path(artifacts))
        return
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        artifacts = Path(tmp)
        n_images = max(args.sizes) // len(VARIANTS) * IMAGES_PER_QUESTION
        start = time.perf_counter()
        make_images(artifacts, n_images)
        print(f"made {n_images} synthetic PNGs in {time.perf_counter() - start:.1f} s")
        mib = 1 << 20
        header = (
            f"{'samples':>8} {'writer':>9} {'time s':>7} {'peak extra MiB':>15} {'parquet MiB':>12}"
        )
        print(header)
        results: dict[tuple[str, int], dict[str, float]] = {}
        for n in args.sizes:
            for mode in ("baseline", "ours"):
                r = results[(mode, n)] = measure(mode, n, artifacts)
                print(
                    f"{n:>8} {mode:>9} {r['seconds']:>7.1f} {r['peak_extra'] / mib:>15.0f} "
                    f"{r['bytes'] / mib:>12.0f}"
                )
        for n in args.sizes:
            base, ours = results[("baseline", n)], results[("ours", n)]
            print(
                f"{n} samples: peak extra memory baseline/ours = "
                f"{base['peak_extra'] / max(ours['peak_extra'], 1):.1f}x, "
                f"time ours/baseline = {ours['seconds'] / base['seconds']:.2f}x"
            )
        small, large = min(args.sizes), max(args.sizes)
        for mode in ("baseline", "ours"):
            growth = results[(mode, large)]["peak_extra"] / max(
                results[(mode, small)]["peak_extra"], 1
            )
            print(f"{mode}: peak extra memory {large} vs {small} samples = {growth:.2f}x")


if __name__ == "__main__":
    main()
