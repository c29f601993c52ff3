"""Export a release as JSONL + image folders (the MM-SafetyBench layout) for users without `datasets`.

Layout: `<out>/<scenario>/<variant>/samples.jsonl` and the images beside it in `images/`; each
JSONL line carries the text columns and `image` / `images` as paths relative to `<out>`. Reads the
published parquet (exactly what the release holds) in batches, so memory stays flat.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import pyarrow.parquet as pq

from catalog.release import LABEL_COLUMN, LIST_COLUMNS, SPLITS, TEXT_COLUMNS, verify_release
from schemas.records import CONTRAST_CONFIG


def _save(cell: dict[str, Any], folder: Path, stem: str, out_dir: Path) -> str:
    suffix = Path(cell.get("path") or "").suffix or ".png"
    path = folder / f"{stem}{suffix}"
    path.write_bytes(cell["bytes"])
    return path.relative_to(out_dir).as_posix()


def export_jsonl(release_dir: Path, out_dir: Path, split: str = "test") -> dict[str, int]:
    """Write the export of one split; returns rows written per `<scenario>/<variant>`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    problems = verify_release(release_dir)
    if problems:
        raise ValueError(f"{release_dir} does not match its manifest: " + "; ".join(problems[:5]))
    counts: Counter[str] = Counter()
    for config_dir in sorted(p for p in (release_dir / "data").iterdir() if p.is_dir()):
        with ExitStack() as stack:
            handles: dict[str, IO[str]] = {}
            for shard in sorted(config_dir.glob(f"{split}-*.parquet")):
                for batch in pq.ParquetFile(shard).iter_batches(batch_size=64):
                    for row in batch.to_pylist():
                        key = f"{row['scenario']}/{row['variant']}"
                        if row.get(LABEL_COLUMN) == "benign":  # the `contrast` config
                            key = f"{CONTRAST_CONFIG}/{key}"
                        folder = out_dir / key
                        if key not in handles:
                            (folder / "images").mkdir(parents=True, exist_ok=True)
                            handles[key] = stack.enter_context(
                                (folder / "samples.jsonl").open("w", encoding="utf-8")
                            )
                        line = {c: row[c] for c in TEXT_COLUMNS + LIST_COLUMNS}
                        line[LABEL_COLUMN] = row.get(LABEL_COLUMN) or "unsafe"
                        if row.get("image") is not None:
                            line["image"] = _save(
                                row["image"], folder / "images", row["id"], out_dir
                            )
                        if row.get("images") is not None:
                            line["images"] = [
                                _save(cell, folder / "images", f"{row['id']}_{i}", out_dir)
                                for i, cell in enumerate(row["images"])
                            ]
                        handles[key].write(json.dumps(line, ensure_ascii=False) + "\n")
                        counts[key] += 1
    return dict(sorted(counts.items()))
