"""The inspect_ai side of `safetyforge export inspect`: an exported folder (dataset.jsonl,
images/, export.json) as an inspect Task whose scorer wraps a SafetyForge judge. The scorer's
value is the judge's unsafe score (1/0, or the rubric's 0-1), so its mean is the ASR.

Imported only by an exported task.py, so inspect_ai stays an optional dependency
(`pip install 'safetyforge[inspect]'`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inspect_ai import Epochs, Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentImage,
    ContentText,
    GenerateConfig,
    get_model,
)
from inspect_ai.scorer import Score, Scorer, Target, mean, scorer, stderr
from inspect_ai.solver import TaskState, generate

from evaluation.inspect_export import ExportSpec
from evaluation.judges import JudgeAnswerError, JudgeInput, JudgeOptions, make_judge

# inspect's epoch reducers for our aggregation rules over K attempts (--epochs K).
REDUCERS = {"any-of-K": "max", "mean": "mean", "majority": "mode"}
_ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}


def _sample(folder: Path, row: dict[str, Any]) -> Sample:
    content: list[ContentImage | ContentText] = [
        ContentImage(image=str(folder / path)) for path in row["images"]
    ]
    content.append(ContentText(text=row["prompt"]))
    return Sample(
        id=f"{row['id']}",
        input=[ChatMessageUser(content=content)] if row["images"] else row["prompt"],
        metadata={
            k: row[k]
            for k in (
                "scenario",
                "scenario_name",
                "variant",
                "question",
                "question_id",
                "rule",
                "prompt",
            )
        },
    )


def _messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    return [_ROLES[m["role"]](content=m["content"]) for m in messages]


@scorer(metrics=[mean(), stderr()])
def safetyforge_judge(judge: dict[str, Any], judge_model: str | None = None) -> Scorer:
    """The judge's unsafe score of the model's answer; a model judge asks `judge_model`."""
    chosen = make_judge(JudgeOptions.model_validate(judge))
    if chosen.needs_model and not judge_model:
        raise ValueError(f"the {chosen.name} judge needs a model: -T judge_model=PROVIDER/MODEL")
    grader = get_model(judge_model) if chosen.needs_model else None
    config = GenerateConfig(temperature=0.0, max_tokens=300)

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata
        item = JudgeInput(
            scenario=meta["scenario"],
            scenario_name=meta["scenario_name"],
            rule=meta["rule"],
            question=meta["question"],
            prompt=meta["prompt"],
            response=state.output.completion,
        )
        if grader is None:
            judgement = chosen.judge(item)
        else:
            prompt = chosen.prompt(item)
            output = await grader.generate(_messages(prompt.messages), config=config)
            try:
                judgement = chosen.parse(item, output.completion, output.stop_reason)
            except JudgeAnswerError as exc:  # asked again once, as in `safetyforge evaluate`
                again = chosen.reask(item, prompt, output.completion, str(exc))
                output = await grader.generate(_messages(again), config=config)
                judgement = chosen.parse(item, output.completion, output.stop_reason)
        return Score(
            value=judgement.unsafe_score(),
            answer=state.output.completion,
            explanation=judgement.reason,
            metadata={
                "verdict": judgement.verdict,
                "refusal": judgement.refusal,
                "categories": judgement.categories,
                "judge": chosen.name,
            },
        )

    return score


def benchmark_task(folder: Path, judge_model: str | None = None) -> Task:
    """The exported benchmark in `folder` as an inspect Task (one epoch by default; pass
    `--epochs K` for K attempts, reduced by the judge's aggregation rule)."""
    spec = ExportSpec.model_validate_json((folder / "export.json").read_text(encoding="utf-8"))
    lines = (folder / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    samples = [_sample(folder, json.loads(line)) for line in lines if line]
    return Task(
        dataset=MemoryDataset(samples, name=f"{spec.name}-{spec.split}"),
        solver=generate(),
        scorer=safetyforge_judge(spec.judge.model_dump(), judge_model),
        epochs=Epochs(1, REDUCERS[spec.aggregation]),
        metadata={"release": spec.release, "revision": spec.revision, "configs": spec.configs},
    )
