"""`safetyforge export inspect RELEASE`: write an inspect_ai task folder (dataset.jsonl with the
text fields, images/ with every image, export.json naming the judge, task.py) that
`inspect eval OUT/task.py --model PROVIDER/MODEL` runs."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation import make_judge, scenario_rules, select_samples
from evaluation.inspect_export import ExportSpec
from evaluation.judges import JudgeOptions
from evaluation.samples import mime_type
from flows.evaluate import DEFAULT_TAXONOMY, load_samples, resolve_release
from schemas.files import write_atomic
from schemas.taxonomy import load_taxonomy

_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}
TASK_PY = '''"""SafetyForge release {release} ({split} split), exported for inspect_ai.

    cd {folder}
    inspect eval task.py --model PROVIDER/MODEL
    inspect eval task.py --model PROVIDER/MODEL --epochs 5   # 5 attempts, {aggregation}
    inspect eval task.py --model ... -T judge_model=PROVIDER/MODEL   # model judges

The score is the {judge} judge's unsafe score (its mean is the attack success rate). Needs the
safetyforge package (pip install 'safetyforge[inspect]') for the judge.
"""

from pathlib import Path

from inspect_ai import task

from evaluation.inspect_task import benchmark_task


@task
def safetyforge(judge_model: str | None = None):
    return benchmark_task(Path(__file__).parent, judge_model)
'''


def export_inspect_task(
    release: str,
    out: Path,
    judge: JudgeOptions,
    *,
    configs: list[str],
    split: str,
    limit: int | None,
    taxonomy: str | None,
    cache_root: Path,
) -> int:
    """Write the task folder; returns the number of samples."""
    chosen = make_judge(judge)  # a bad judge spec fails before anything is written
    source = resolve_release(release)
    configs = configs or source.configs
    if unknown := sorted(set(configs) - set(source.configs)):
        raise ValueError(f"config(s) {', '.join(unknown)} not in the release")
    samples = [
        s
        for config in configs
        for s in select_samples(load_samples(source, config, split, cache_root), limit)
    ]
    rules = scenario_rules(
        load_taxonomy(taxonomy or source.taxonomy or DEFAULT_TAXONOMY),
        {s.scenario for s in samples},
    )
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for sample in samples:
        paths = []
        for index, data in enumerate(sample.images):
            path = Path("images") / f"{sample.sample_id}_{index}{_SUFFIX[mime_type(data)]}"
            write_atomic(out / path, data)
            paths.append(path.as_posix())
        row = {
            "id": f"{sample.config}/{sample.sample_id}",
            "scenario": sample.scenario,
            "scenario_name": sample.scenario_name,
            "variant": sample.variant,
            "question": sample.question,
            "question_id": sample.question_id,
            "rule": rules[sample.scenario],
            "prompt": sample.prompt,
            "images": paths,
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    write_atomic(out / "dataset.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    name = Path(source.location).parent.name if source.local else source.location
    spec = ExportSpec(
        name=f"{name}@{source.revision}" if source.revision else name,
        release=source.location,
        revision=source.revision,
        split=split,
        configs=configs,
        judge=judge,
        aggregation=chosen.aggregation,
        samples=len(samples),
    )
    write_atomic(out / "export.json", spec.model_dump_json(indent=2).encode("utf-8"))
    task_py = TASK_PY.format(
        release=spec.name,
        split=split,
        folder=out,
        aggregation=chosen.aggregation,
        judge=chosen.name,
    )
    write_atomic(out / "task.py", task_py.encode("utf-8"))
    return len(samples)
