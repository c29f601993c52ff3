"""Export a release to SafeBench's (FigStep's `data/`) layout:

    DIR/question/safebench.csv        dataset,category_id,task_id,category_name,question,instruction
    DIR/question/SafeBench-Tiny.csv   the tiny split's rows
    DIR/question/benign_sentences_without_harmful_phase.csv   the tiny rows' FigStep-Pro templates
    DIR/images/SafeBench/query_<dataset>_<category_id>_<task_id>_6.png   the FigStep images

`instruction` is the statement FigStep drew. An imported question keeps its published
category and task id (original id `<category_id>-<task_id>`); one SafetyForge wrote gets the
next free task id of its category. Files are written as published: minimal quoting;
safebench.csv with "\\n" line ends and none after the last row, SafeBench-Tiny.csv with "\\r\\n"
after every row, the templates one per line, unquoted.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from pathlib import Path

from catalog.exports.release_rows import (
    QuestionRow,
    checked_release,
    encoded_as,
    iter_images,
    read_questions,
    release_taxonomy,
)
from schemas.records import Taxonomy

HEADER = ("dataset", "category_id", "task_id", "category_name", "question", "instruction")
DATASET = "ForbidQI"


def assign_ids(rows: list[QuestionRow], taxonomy: Taxonomy) -> dict[str, tuple[int, int]]:
    """question id -> (category id, task id): the published ones, then the next free task id."""
    category = {s.slug: int(s.id) for s in taxonomy.scenarios}
    ids: dict[str, tuple[int, int]] = {}
    taken: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        parts = row.original_id.split("-")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            ids[row.question_id] = (int(parts[0]), int(parts[1]))
            taken[int(parts[0])].add(int(parts[1]))
    for row in rows:
        if row.question_id not in ids:
            number = category[row.scenario]
            task = max(taken[number], default=0) + 1
            ids[row.question_id] = (number, task)
            taken[number].add(task)
    return ids


def csv_text(rows: list[list[str]], newline: str = "\n", final: bool = False) -> str:
    """Minimal quoting; `final`: a line end after the last row too."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue() if final else out.getvalue().removesuffix(newline)


def export_safebench(
    release_dir: Path, out_dir: Path, split: str = "test", dataset: str = DATASET
) -> Counter[str]:
    """Write the layout; returns counts of rows, images and re-encoded images."""
    config = checked_release(release_dir, split)
    taxonomy = release_taxonomy(config, "safebench")
    questions = read_questions(release_dir, split)
    ids = assign_ids(list(questions.values()), taxonomy)
    ordered = sorted(questions.values(), key=lambda r: ids[r.question_id])

    def line(row: QuestionRow) -> list[str]:
        category, task = ids[row.question_id]
        return [
            dataset,
            str(category),
            str(task),
            row.scenario_name,
            row.question,
            row.figstep_statement,
        ]

    tiny = read_questions(release_dir, "tiny") if split == "test" else questions
    tiny_rows = [r for r in ordered if r.question_id in tiny]
    folder = out_dir / "question"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "safebench.csv").write_text(
        csv_text([list(HEADER), *(line(r) for r in ordered)]), encoding="utf-8"
    )
    # Published with Windows line ends and a final one, unlike safebench.csv.
    (folder / "SafeBench-Tiny.csv").write_bytes(
        csv_text([list(HEADER), *(line(r) for r in tiny_rows)], "\r\n", final=True).encode()
    )
    counts: Counter[str] = Counter({"rows": len(ordered), "tiny rows": len(tiny_rows)})
    if all(r.figstep_pro_template for r in tiny_rows):
        # One template per line, unquoted, as published (one of them holds a comma).
        (folder / "benign_sentences_without_harmful_phase.csv").write_text(
            "\n".join(["sentence", *(r.figstep_pro_template for r in tiny_rows)]),
            encoding="utf-8",
        )
        counts["templates"] = len(tiny_rows)
    if (release_dir / "data" / "figstep").is_dir():
        images = out_dir / "images" / "SafeBench"
        images.mkdir(parents=True, exist_ok=True)
        for question_id, cells in iter_images(release_dir, "figstep", split):
            category, task = ids[question_id]
            data, reencoded = encoded_as(cells[0], "PNG")
            (images / f"query_{dataset}_{category}_{task}_6.png").write_bytes(data)
            counts["images"] += 1
            counts["re-encoded as PNG"] += reencoded
    return counts
