"""Shared pydantic base: every config and record forbids unknown fields."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for configs and records: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=True)
