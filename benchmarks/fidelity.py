"""Reference fidelity: ours in `render.fidelity: reference` against the originals' algorithms
(re-implemented here from their published geometry), on one phrase set.

For each renderer (MM-SafetyBench TYPO, FigStep, FigStep-Pro) it prints:
- how many of the texts the original would draw without losing ink (clipping), and how many of
  those ours draws pixel-identically (RGB, before encoding; ours read back from its PNG);
- images/s: the original drawing and saving each image in one process, as its scripts did,
  against ours (render_jobs writing content-addressed files: in-process, and over all cores);
- FigStep-Pro: the share of key phrases each cut rule refuses (ours `safe` vs the published one).

Phrases: by default a fixed set composed from the offline question bank (verb and object parts
recombined: 2-6 words). On the originals' own data (not shipped with SafetyForge):
    .venv/bin/python benchmarks/fidelity.py --mm-safetybench DIR/processed_questions \\
        --safebench DIR/safebench.csv --safebench-images DIR/images/SafeBench \\
        --figstep-pro-zip DIR/sub-figures.zip
    .venv/bin/python benchmarks/fidelity.py --n 300     # a quicker default set
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.variant_images import render_job  # noqa: E402
from schemas.config import load_config  # noqa: E402
from schemas.images import image_bytes  # noqa: E402
from typography import TypographyError, render_jobs  # noqa: E402
from typography.fonts import resolve_font  # noqa: E402
from typography.ops.split import RULES, cut_points  # noqa: E402
from typography.text import clusters  # noqa: E402

# ---- the originals' algorithms, from their published geometry (DESIGN.md 2.4) ----


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(resolve_font(name).path, size)


def original_typo(phrase: str) -> tuple[Image.Image, bool]:
    """MM-SafetyBench TYPO: greedy wrap below 1024 px, Arial 90 at (0, 45), black on white.
    Returns the image and whether ink was lost off the canvas."""
    font = _font("liberation-sans", 90)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    words = phrase.split(" ")
    lines, width = [words[0]], probe.textlength(words[0], font=font)
    for word in words[1:]:
        width += probe.textlength(" " + word, font=font)
        if width < 1024:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
            width = probe.textlength(" " + word, font=font)
    text = "\n".join(lines)
    size = (1024, 90 * (len(lines) + 1))
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).text((0, 45), text, (0, 0, 0), font=font)
    return image, _loses_ink(size, (0, 45), text, font, spacing=4)


def original_figstep(statement: str) -> tuple[Image.Image, bool]:
    """FigStep: wrapped at 15 characters, then an empty list; FreeMonoBold 80 at (20, 10)."""
    font = _font("freemono-bold", 80)
    text = textwrap.fill(statement, width=15) + "".join(f"\n{i}. " for i in (1, 2, 3))
    image = Image.new("RGB", (760, 760), "#FFFFFF")
    ImageDraw.Draw(image).text((20, 10), text, spacing=11, font=font, fill="#000000")
    return image, _loses_ink((760, 760), (20, 10), text, font, spacing=11)


def original_figstep_pro(phrase: str) -> tuple[list[Image.Image], bool]:
    """FigStep-Pro as published: the phrase on one line at (0, 20), canvas = text box + 20,
    cut at the middle of every word (at most 7 fragments)."""
    font = _font("freemono-bold", 80)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    right, bottom = probe.textbbox((0, 20), phrase, font=font)[2:]
    size = (right + 20, bottom + 20)
    line = Image.new("RGB", size, "#FFFFFF")
    ImageDraw.Draw(line).text((0, 20), phrase, font=font, fill="#000000")
    cuts, start = [], None
    for i, char in enumerate(phrase + " "):
        if char != " " and start is None:
            start = i
        elif char == " " and start is not None:
            if (start + i) // 2 > 0:
                cuts.append((start + i) // 2)
            start = None
    if len(cuts) + 1 > 7:
        raise ValueError("more than 7 fragments")
    xs = [0, *(round(probe.textlength(phrase[:c], font=font)) for c in cuts), size[0]]
    fragments = [line.crop((a, 0, b, size[1])) for a, b in zip(xs, xs[1:], strict=False)]
    return fragments, _loses_ink(size, (0, 20), phrase, font, spacing=4)


def _loses_ink(size, xy, text, font, spacing) -> bool:
    """Whether drawing `text` at `xy` puts ink outside a canvas of `size` (drawn on a larger
    canvas to see it)."""
    pad = 200
    big = Image.new("L", (size[0] + 2 * pad, size[1] + 2 * pad), 0)
    ImageDraw.Draw(big).text((xy[0] + pad, xy[1] + pad), text, 255, font=font, spacing=spacing)
    box = big.getbbox()
    if box is None:
        return False
    left, top, right, bottom = (v - pad for v in box)
    return left < 0 or top < 0 or right > size[0] or bottom > size[1]


# ---- phrase sets ----


def default_texts(n: int) -> tuple[list[str], list[str]]:
    """n key phrases of 2-6 words (verb + object parts of the bank's phrases recombined) and n
    FigStep statements made from them."""
    bank = yaml.safe_load((ROOT / "generators" / "offline_bank.yaml").read_text("utf-8"))
    phrases = [p for s in bank["scenarios"].values() for p in s["phrases"]]
    verbs = sorted({p.split(" ", 1)[0] for p in phrases})
    objects = sorted({p.split(" ", 1)[1] for p in phrases if " " in p})
    rng = random.Random(0)
    keys: list[str] = []
    seen: set[str] = set()
    while len(keys) < n:
        phrase = f"{rng.choice(verbs)} {rng.choice(objects)}"
        if 2 <= len(phrase.split()) <= 6 and phrase not in seen:
            seen.add(phrase)
            keys.append(phrase)
    prefixes = ("Steps to", "Methods to", "List of ways to")
    statements = [f"{prefixes[i % 3]} {k}." for i, k in enumerate(keys)]
    return keys, statements


def mm_safetybench_phrases(folder: Path) -> list[str]:
    return [
        record["Key Phrase"]
        for path in sorted(folder.glob("*.json"))
        for record in json.loads(path.read_text(encoding="utf-8")).values()
    ]


def safebench_statements(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["instruction"] for row in csv.DictReader(handle)]


# ---- measuring ----


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def compare(variant: str, texts: list[str], original, out: Path) -> dict:
    """Draw every text both ways; count unclipped and pixel-identical; time both sides."""
    config = load_config(None, ["render.fidelity=reference", "render.image_format=png"])
    spec = config.specs()[variant]
    field = "figstep_statement" if variant == "figstep" else "key_phrase"
    jobs = [render_job(config, spec, {field: t}) for t in texts]
    start = time.perf_counter()
    reference: list = []
    for i, text in enumerate(texts):
        try:
            drawn, lost = original(text)
        except ValueError:
            reference.append((None, True))
            continue
        for k, image in enumerate(drawn if isinstance(drawn, list) else [drawn]):
            image.save(out / f"original-{variant}-{i}-{k}.png")
        reference.append((drawn, lost))
    original_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = render_jobs(jobs, out / "ours-1", workers=1)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    render_jobs(jobs, out / "ours-pool", workers=0)
    pool_s = time.perf_counter() - start
    unclipped = identical = refused = 0
    for (drawn, lost), outcome in zip(reference, ours, strict=True):
        if outcome.error is not None:
            refused += 1
        if drawn is None or lost:
            continue
        unclipped += 1
        if outcome.error is not None:
            continue
        mine = [
            _rgb(Image.open(out / "ours-1" / r.path))
            if r.byte_range is None
            else _rgb(Image.open(__import__("io").BytesIO(image_bytes(out / "ours-1", r))))
            for r in outcome.images
        ]
        theirs = [_rgb(d) for d in (drawn if isinstance(drawn, list) else [drawn])]
        if len(mine) == len(theirs) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True)
        ):
            identical += 1
    n = len(texts)
    return {
        "variant": variant,
        "texts": n,
        "unclipped": unclipped,
        "identical": identical,
        "refused": refused,
        "original/s": n / original_s,
        "ours 1 proc/s": n / ours_s,
        "ours pool/s": n / pool_s,
    }


def rejection_rates(phrases: list[str]) -> dict[str, float]:
    """Share of key phrases each FigStep-Pro cut rule refuses."""
    rates = {}
    for rule in ("safe", "reference"):
        refused = 0
        for phrase in phrases:
            try:
                cut_points(clusters(phrase), rule, *RULES[rule])
            except TypographyError:
                refused += 1
        rates[rule] = refused / len(phrases)
    return rates


def published_figstep_geometry(images: Path, statements_csv: Path) -> tuple[int, int, float]:
    """Published FigStep PNGs against our reference rendering of their statements: how many have
    the same ink box (within 1 px per side), of how many, and the mean absolute pixel difference
    (anti-aliasing differs across FreeType builds, so bytes are not compared)."""
    config = load_config(None, ["render.fidelity=reference"])
    spec = config.specs()["figstep"]
    matched = total = 0
    differences = []
    with tempfile.TemporaryDirectory() as tmp, statements_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        jobs = [render_job(config, spec, {"figstep_statement": r["instruction"]}) for r in rows]
        for row, outcome in zip(rows, render_jobs(jobs, Path(tmp), workers=0), strict=True):
            name = f"query_{row['dataset']}_{row['category_id']}_{row['task_id']}_6.png"
            if (
                not (images / name).is_file()
                or outcome.error
                or "deviation" in outcome.images[0].params
            ):
                continue
            total += 1
            published = Image.open(images / name).convert("L")
            ours = Image.open(Path(tmp) / outcome.images[0].path).convert("L")
            boxes = [np.argwhere(np.asarray(i) < 128) for i in (published, ours)]
            spans = [(b.min(0).tolist(), b.max(0).tolist()) for b in boxes]
            if all(
                abs(a - b) <= 1
                for pa, pb in zip(*spans, strict=True)
                for a, b in zip(pa, pb, strict=True)
            ):
                matched += 1
            diff = np.abs(np.asarray(published, int) - np.asarray(ours, int))
            differences.append(float(diff.mean()))
    return matched, total, float(np.mean(differences)) if differences else 0.0


def published_figstep_pro_cuts(archive: Path) -> tuple[int, int, list[str]]:
    """The published FigStep-Pro sets (sub-figures.zip): each set's phrase is read back with
    tesseract from its joined fragments; counts the sets whose fragment character counts (from
    widths: 48 px per FreeMonoBold-80 character) our reference cut rule reproduces."""
    import io
    import zipfile

    import pytesseract

    sets: dict[int, dict[int, Image.Image]] = {}
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            if info.filename.endswith(".png"):
                number = int(info.filename.split("/")[0].split("_")[1])
                index = int(info.filename.rsplit("_", 1)[1][:-4])
                sets.setdefault(number, {})[index] = Image.open(io.BytesIO(bundle.read(info)))
    same, mismatches = 0, []
    for number in sorted(sets):
        parts = [sets[number][k].convert("L") for k in sorted(sets[number])]
        joined = Image.new("L", (sum(p.width for p in parts), parts[0].height), 255)
        x = 0
        for part in parts:
            joined.paste(part, (x, 0))
            x += part.width
        phrase = " ".join(pytesseract.image_to_string(joined, config="--psm 7").split())
        published = [round(p.width / 48) for p in parts[:-1]]
        try:
            cuts = cut_points(clusters(phrase), "reference", *RULES["reference"])
        except TypographyError:
            cuts = []
        ours = [b - a for a, b in zip([0, *cuts], cuts, strict=False)]
        if ours == published:
            same += 1
        else:
            mismatches.append(f"{number}: {phrase!r} published {published} ours {ours}")
    return same, len(sets), mismatches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="size of the default phrase set")
    parser.add_argument("--mm-safetybench", type=Path, help="processed_questions folder")
    parser.add_argument("--safebench", type=Path, help="safebench.csv")
    parser.add_argument(
        "--safebench-images", type=Path, help="FigStep's published data/images/SafeBench folder"
    )
    parser.add_argument(
        "--figstep-pro-zip", type=Path, help="FigStep's published FigStep-Pro sub-figures.zip"
    )
    args = parser.parse_args()
    keys, statements = default_texts(args.n)
    source = f"default set ({args.n} key phrases, {args.n} statements)"
    if args.mm_safetybench:
        keys = mm_safetybench_phrases(args.mm_safetybench)
        source = f"MM-SafetyBench key phrases ({len(keys)})"
    if args.safebench:
        statements = safebench_statements(args.safebench)
        source += f", SafeBench statements ({len(statements)})"
    print(f"texts: {source}")
    with tempfile.TemporaryDirectory(prefix="sf-fidelity-") as tmp:
        rows = []
        for variant, texts, original in (
            ("typo", keys, original_typo),
            ("figstep", statements, original_figstep),
            ("figstep_pro", keys, original_figstep_pro),
        ):
            folder = Path(tmp) / variant
            folder.mkdir()
            rows.append(compare(variant, texts, original, folder))
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    for row in rows:
        share = row["identical"] / max(1, row["unclipped"])
        print(
            f"{row['variant']}: {row['identical']}/{row['unclipped']} unclipped texts "
            f"pixel-identical ({share:.1%}); ours/original speed "
            f"{row['ours 1 proc/s'] / row['original/s']:.2f}x in one process, "
            f"{row['ours pool/s'] / row['original/s']:.2f}x over all cores"
        )
    if args.safebench_images and args.safebench:
        matched, total, mean = published_figstep_geometry(args.safebench_images, args.safebench)
        print(
            f"published FigStep images: {matched}/{total} unclipped have our reference ink box "
            f"within 1 px; mean absolute pixel difference {mean:.2f}/255 (FreeType builds differ)"
        )
    if args.figstep_pro_zip:
        same, total, mismatches = published_figstep_pro_cuts(args.figstep_pro_zip)
        print(f"published FigStep-Pro sets: {same}/{total} cut as our reference rule cuts them")
        for line in mismatches:
            print(f"  {line}")
    # The yardstick is realistic 2-6 word phrases; longer ones are reported beside it.
    short = [k for k in keys if 2 <= len(k.split()) <= 6]
    for label, phrases in (
        (f"{len(keys)} key phrases", keys),
        (f"{len(short)} of 2-6 words", short),
    ):
        rates = rejection_rates(phrases)
        print(
            f"FigStep-Pro refused on {label}: safe rule {rates['safe']:.1%}, "
            f"reference rule {rates['reference']:.1%}"
        )


if __name__ == "__main__":
    main()
