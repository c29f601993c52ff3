"""Shared test setup: isolated Prefect state and one Prefect API for the whole session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Label Studio server fixtures: registered as a plugin so the server starts once per session
# (a fixture imported into several test modules would start once per module).
pytest_plugins = ["label_studio_fixtures"]

# Prefect reads settings at import time: point it at a throwaway home before anything imports it.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="safetyforge-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect test server for every flow test in the session (~20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight SD pipeline saved to disk once per session (nothing downloaded)."""
    from generators.sd_tiny import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))
