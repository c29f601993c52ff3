"""`safetyforge evaluate calibrate RUN`: send a stratified sample of a run's answers to Label
Studio (judge disagreements oversampled), pull what people labelled, and store each judge's
precision, recall, F1 and Cohen's kappa against the human majority in the catalog.

Re-running it is safe: the same run and --n choose the same answers, only missing tasks are
imported, and the metrics are recomputed from every label pulled so far.
"""

from __future__ import annotations

from pathlib import Path

from annotation import LabelStudioConfig
from annotation.calibration import CalibrationTask, pull_labels, push_calibration
from catalog import Catalog
from evaluation.calibration import choose_items, human_majority, judge_metrics
from flows.evaluate import find_run, load_samples, resolve_release
from schemas._base import StrictModel
from schemas.evaluation import CalibrationMetric, EvalResult, EvalRun, JudgeVerdict
from schemas.files import write_atomic


class CalibrationOutcome(StrictModel):
    run_id: str
    project_id: int
    items: int
    created: int  # tasks imported by this call
    labelled: int  # items with a human majority
    metrics: list[CalibrationMetric]


def _shown(
    run: EvalRun, sample_ids: set[str], artifacts: Path, folder: Path
) -> dict[str, tuple[str, list[str]]]:
    """What the model was shown, per chosen sample: its prompt and its images, read from the
    release and written under `folder` (Label Studio serves them from there)."""
    protocol = run.protocol
    source = resolve_release(protocol.release)
    shown: dict[str, tuple[str, list[str]]] = {}
    for config in protocol.configs:
        if config in protocol.skipped_configs:
            continue
        for sample in load_samples(
            source, config, protocol.split, artifacts / "cache" / "datasets"
        ):
            if sample.sample_id not in sample_ids:
                continue
            files = []
            for index, data in enumerate(sample.images):
                path = folder / f"{sample.sample_id}_{index}.png"
                if not path.exists():
                    write_atomic(path, data)
                files.append(str(path))
            shown[sample.sample_id] = (sample.prompt, files)
    return shown


def calibrate(
    artifacts: Path,
    run: str,
    n: int,
    label_studio: LabelStudioConfig,
    disagreement_share: float = 0.5,
    annotators: int = 3,
) -> CalibrationOutcome:
    with Catalog(artifacts / "catalog.duckdb", read_only=True) as catalog:
        record = find_run(catalog, run)
        key = [record.run_id]
        results: list[EvalResult] = catalog.records("eval_results", "run_id = ?", key)
        verdicts: list[JudgeVerdict] = catalog.records("eval_verdicts", "run_id = ?", key)
    by_judge: dict[str, dict[tuple[str, int], JudgeVerdict]] = {
        j.name: {} for j in record.protocol.judges
    }
    for v in verdicts:
        by_judge.setdefault(v.judge, {})[(v.sample_id, v.attempt)] = v
    items = choose_items(record.run_id, results, by_judge, n, disagreement_share)
    if not items:
        raise ValueError(f"run {record.run_id} has no judged answer to calibrate on")
    folder = (artifacts / "evaluations" / record.run_id / "calibration").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    shown = _shown(record, {i.sample_id for i in items}, artifacts, folder)
    answers = {(r.sample_id, r.attempt): r for r in results}
    tasks = [
        CalibrationTask(
            run_id=record.run_id,
            sample_id=i.sample_id,
            attempt=i.attempt,
            scenario_name=(row := answers[(i.sample_id, i.attempt)]).scenario_name,
            rule=row.judge_rule,
            question=row.question,
            prompt=shown.get(i.sample_id, (row.question, []))[0],
            answer=row.response_text or "",
            images=shown.get(i.sample_id, ("", []))[1],
        )
        for i in items
    ]
    project_id, created = push_calibration(label_studio, record.run_id, tasks, folder, annotators)
    labels = pull_labels(label_studio, record.run_id, project_id)
    majority = human_majority(labels)
    metrics = [
        judge_metrics(record.run_id, judge.name, items, majority, by_judge.get(judge.name, {}))
        for judge in record.protocol.judges
    ]
    with Catalog(artifacts / "catalog.duckdb") as catalog:
        catalog.replace_run_rows("eval_calibration_items", record.run_id, items)
        catalog.replace_run_rows("eval_human_labels", record.run_id, labels)
        labelled = [m for m in metrics if m.items]
        catalog.replace_run_rows("eval_calibration", record.run_id, labelled)
    chosen = {(i.sample_id, i.attempt) for i in items}
    return CalibrationOutcome(
        run_id=record.run_id,
        project_id=project_id,
        items=len(items),
        created=created,
        labelled=sum(k in chosen for k in majority),
        metrics=metrics,
    )
