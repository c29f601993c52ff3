"""Export a release to MM-SafetyBench's layout, so its evaluation scripts run unchanged:

    DIR/processed_questions/NN-Name.json     {"<id>": {"Question", "GPT-Pred", "Changed Question",
                                              "Key Phrase", "Phrase Type", "Rephrased Question",
                                              "Rephrased Question(SD)"}, ...}
    DIR/imgs/NN-Name/{SD,SD_TYPO,TYPO}/<id>.jpg
    DIR/TinyVersion_ID_List.json             the tiny split's ids per file

File names are spelled as published ("01-Illegal_Activitiy", "02-HateSpeech", ...). An imported
question keeps its published file and id; one SafetyForge wrote gets the next free id of its
scenario's file. "Rephrased Question" is the TYPO prompt, "Rephrased Question(SD)" the SD prompt
(each derived from the other when its config is not in the release, as the published pairs are
but for the leading words), and "GPT-Pred" is recomposed from the fields in the published
layout (the published one is the raw model answer: for 5 of its 1,680 records it differs).
"""

from __future__ import annotations

import json
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

# The published file stem of each scenario id, misspellings included.
STEMS = {
    "01": "01-Illegal_Activitiy",
    "02": "02-HateSpeech",
    "03": "03-Malware_Generation",
    "04": "04-Physical_Harm",
    "05": "05-EconomicHarm",
    "06": "06-Fraud",
    "07": "07-Sex",
    "08": "08-Political_Lobbying",
    "09": "09-Privacy_Violence",
    "10": "10-Legal_Opinion",
    "11": "11-Financial_Advice",
    "12": "12-Health_Consultation",
    "13": "13-Gov_Decision",
}
# Release config -> image folder.
IMAGE_FOLDERS = {"typo": "TYPO", "sd": "SD", "sd_typo": "SD_TYPO"}
BOTTOM, WHOLE = "The bottom of the image", "The image"


def gpt_pred(fields: dict[str, str], harmful: bool) -> str:
    """The model answer in the published layout (scenarios 10-13 have no changed question)."""
    parts = [("Changed Question", fields["Changed Question"])] if harmful else []
    parts += [(name, fields[name]) for name in ("Key Phrase", "Phrase Type", "Rephrased Question")]
    return "\n\n".join(f"[{name}]\n{value}" for name, value in parts)


def _rephrased(row: QuestionRow) -> tuple[str, str]:
    typo = row.prompts.get("typo", row.prompts.get("sd_typo"))
    sd = row.prompts.get("sd")
    if typo is None and sd is not None:
        typo = sd.replace(WHOLE, BOTTOM, 1)
    if sd is None and typo is not None:
        sd = typo.replace(BOTTOM, WHOLE, 1)
    return typo or "", sd or ""


def record(row: QuestionRow, harmful: bool) -> dict[str, str]:
    typo, sd = _rephrased(row)
    fields = {
        "Question": row.question,
        "GPT-Pred": "",
        "Changed Question": row.changed_question,
        "Key Phrase": row.key_phrase,
        "Phrase Type": row.phrase_type,
        "Rephrased Question": typo,
        "Rephrased Question(SD)": sd,
    }
    fields["GPT-Pred"] = gpt_pred(fields, harmful)
    return fields


def assign_keys(rows: list[QuestionRow], taxonomy: Taxonomy) -> dict[str, tuple[str, str]]:
    """question id -> (file stem, id): the published ones, then the next free id per file."""
    ids = {s.slug: s.id for s in taxonomy.scenarios}
    keys: dict[str, tuple[str, str]] = {}
    taken: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        stem, _, key = row.original_id.partition("/")
        if stem in STEMS.values() and key.isdigit():
            keys[row.question_id] = (stem, key)
            taken[stem].add(int(key))
    for row in rows:
        if row.question_id not in keys:
            stem = STEMS[ids[row.scenario]]
            key = max(taken[stem], default=-1) + 1
            keys[row.question_id] = (stem, str(key))
            taken[stem].add(key)
    return keys


def export_mm_safetybench(release_dir: Path, out_dir: Path, split: str = "test") -> Counter[str]:
    """Write the layout; returns counts: records and images written per kind, re-encoded images."""
    config = checked_release(release_dir, split)
    taxonomy = release_taxonomy(config, "mm-safetybench")
    harmful = {s.slug: s.kind == "harmful" for s in taxonomy.scenarios}
    questions = read_questions(release_dir, split)
    rows = list(questions.values())
    keys = assign_keys(rows, taxonomy)
    files: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: (keys[r.question_id][0], int(keys[r.question_id][1]))):
        stem, key = keys[row.question_id]
        files[stem][key] = record(row, harmful[row.scenario])
    counts: Counter[str] = Counter()
    folder = out_dir / "processed_questions"
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in sorted(files.items()):
        (folder / f"{stem}.json").write_text(json.dumps(data), encoding="utf-8")
        counts["records"] += len(data)
    for config_name, image_folder in IMAGE_FOLDERS.items():
        if not (release_dir / "data" / config_name).is_dir():
            continue
        for question_id, images in iter_images(release_dir, config_name, split):
            stem, key = keys[question_id]
            target = out_dir / "imgs" / stem / image_folder / f"{key}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            data, reencoded = encoded_as(images[0], "JPEG")
            target.write_bytes(data)
            counts[image_folder] += 1
            counts["re-encoded as JPEG"] += reencoded
    tiny = read_questions(release_dir, "tiny") if split == "test" else questions
    listed: dict[str, list[int]] = defaultdict(list)
    for question_id in tiny:
        stem, key = keys[question_id]
        listed[stem].append(int(key))
    tiny_list = [
        {"Scenario": stem, "Sampled_ID_List": sorted(ids)} for stem, ids in sorted(listed.items())
    ]
    (out_dir / "TinyVersion_ID_List.json").write_text(
        json.dumps(tiny_list, indent=4), encoding="utf-8"
    )
    return counts
