"""Prefect settings for local runs: state under the artifacts folder, not ~/.prefect.

Must run before `prefect` is imported anywhere: Prefect reads its settings at import time.
"""

from __future__ import annotations

import os
from pathlib import Path


def configure_prefect(artifacts_dir: Path) -> None:
    """Point Prefect at a project-local home unless the user configured Prefect themselves."""
    home = (artifacts_dir / "prefect").resolve()
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "results"),
        # The ephemeral API server takes 14-26 s to start on a small machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LOG_PRINTS": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    home.mkdir(parents=True, exist_ok=True)
