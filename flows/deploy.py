"""The deployments of prefect.yaml, served from one process (`safetyforge deploy serve`).

`prefect deploy --all` reads the same file for work-pool deployments (a team's server and
workers); serving is the single-machine form: this process registers each deployment with its
schedules on the server in PREFECT_API_URL, then polls for due runs and runs each in a
subprocess, until stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import load_flow_from_entrypoint
from prefect.schedules import Cron, Interval, Schedule
from pydantic import Field, model_validator

from schemas._base import StrictModel
from schemas.config import ConfigError


class ScheduleSpec(StrictModel):
    cron: str | None = None
    interval: float | None = Field(default=None, gt=0)  # seconds
    timezone: str | None = None
    active: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("a schedule needs exactly one of cron or interval")
        return self

    def to_schedule(self) -> Schedule:
        if self.cron is not None:
            return Cron(self.cron, timezone=self.timezone, active=self.active)
        assert self.interval is not None
        return Interval(self.interval, timezone=self.timezone, active=self.active)


class DeploymentSpec(StrictModel):
    name: str
    entrypoint: str  # path/to/file.py:flow_function, relative to prefect.yaml
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    # Read by `prefect deploy` (which work pool runs it); serving ignores it.
    work_pool: dict[str, Any] | None = None


def load_deployments(path: Path) -> list[DeploymentSpec]:
    """The `deployments:` of a prefect.yaml, validated; errors name the file and deployment."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    specs = []
    for index, raw in enumerate(data.get("deployments") or []):
        try:
            specs.append(DeploymentSpec.model_validate(raw))
        except ValueError as exc:
            raise ConfigError(f"{path}: deployments[{index}]: {exc}") from None
    if not specs:
        raise ConfigError(f"{path}: no deployments")
    return specs


def to_runner_deployment(spec: DeploymentSpec) -> RunnerDeployment:
    """Load the entrypoint's flow (relative to the current directory) as a served deployment."""
    flow = load_flow_from_entrypoint(spec.entrypoint)
    return flow.to_deployment(
        name=spec.name,
        description=spec.description,
        tags=spec.tags,
        parameters=spec.parameters,
        schedules=[s.to_schedule() for s in spec.schedules],
    )


def serve_deployments(path: Path, names: list[str] | None = None, limit: int | None = None) -> None:
    """Serve the file's deployments (or those in `names`) until interrupted, at most `limit`
    runs at once. Runs from the file's folder, so entrypoints and relative artifacts_dir
    resolve as they do for `prefect deploy`."""
    specs = load_deployments(path)
    if names:
        unknown = set(names) - {s.name for s in specs}
        if unknown:
            raise ConfigError(f"{path}: no deployment named {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in names]
    os.chdir(path.resolve().parent)
    serve(*(to_runner_deployment(s) for s in specs), limit=limit)
