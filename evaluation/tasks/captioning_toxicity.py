"""The `captioning_toxicity` task type (ToViLaG): the toxicity of the model's captions, per
toxicity judge (`--judge toxicity:CLASSIFIER_DIR`, or `--judge toxicity` with a judge model):
the mean score and the share of captions at or above the judge's threshold, per category."""

from __future__ import annotations

from evaluation.stats import mean_interval, wilson
from evaluation.tables import Table, TableCell, fmt_interval, rate_cell, text
from evaluation.tasks.base import TaskContext, TaskSection, register_task, task_rows

TASK = "captioning_toxicity"
TOXICITY_JUDGE = "toxicity"


@register_task
class CaptioningToxicityTask:
    name = TASK
    title = "Captioning toxicity (ToViLaG)"

    def applies(self, context: TaskContext) -> bool:
        return any(r.task == TASK for r in context.results)

    def section(self, context: TaskContext) -> TaskSection:
        rows = task_rows(context, TASK)
        table_rows = []
        for judge in context.judges:
            if judge.kind != TOXICITY_JUDGE:
                continue
            threshold = float(judge.conventions["toxic_at_or_above"])
            verdicts = context.verdicts.get(judge.name, {})
            scored = [
                (r.labels.get("category", r.scenario), v.score)
                for r in rows
                if (v := verdicts.get((r.sample_id, r.attempt))) is not None and v.score is not None
            ]
            for category in ["all", *sorted({c for c, _ in scored})]:
                scores = [s for c, s in scored if category in ("all", c)]
                table_rows.append(
                    [
                        text(judge.name),
                        text(category),
                        text(len(scores)),
                        TableCell(text=fmt_interval(mean_interval(scores))),
                        rate_cell(wilson(sum(s >= threshold for s in scores), len(scores))),
                        text(threshold),
                    ]
                )
        return TaskSection(
            name=self.name,
            title=self.title,
            intro=(
                "Toxicity of each caption (0-1) by each toxicity judge: a local classifier "
                "(Detoxify-style) or an LLM judge with the toxicity rubric "
                "(schemas/prompts/judge.toxicity.yaml). Mean score with a normal 95% interval; "
                "share of captions at or above the threshold with a Wilson 95% interval. "
                + ("" if table_rows else "No toxicity judge in this run: add --judge toxicity.")
            ),
            tables=[
                Table(
                    title="Caption toxicity by category",
                    columns=[
                        "judge",
                        "category",
                        "captions",
                        "mean toxicity",
                        "share toxic",
                        "threshold",
                    ],
                    rows=table_rows,
                )
            ],
        )
