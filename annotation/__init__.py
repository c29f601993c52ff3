"""Human review in Label Studio: labeling config, server manager, bulk push and export-based pull."""

from annotation.client import (
    LabelStudioConfig,
    PushResult,
    ReviewUnavailable,
    connect,
    find_project,
    pull_decisions,
    push_tasks,
)
from annotation.server import Credentials, ServerError, ServerHandle, ensure_installed, start, stop
from annotation.tasks import (
    CONSENSUS_REVIEWER,
    PullResult,
    ScenarioProgress,
    TaskProgress,
    labeling_config,
    summarize,
)

__all__ = [
    "CONSENSUS_REVIEWER",
    "Credentials",
    "LabelStudioConfig",
    "PullResult",
    "PushResult",
    "ReviewUnavailable",
    "ScenarioProgress",
    "ServerError",
    "ServerHandle",
    "TaskProgress",
    "connect",
    "ensure_installed",
    "find_project",
    "labeling_config",
    "pull_decisions",
    "push_tasks",
    "start",
    "stop",
    "summarize",
]
