"""Session fixtures: one real Label Studio server per test session, from the cached template.

The first session on a machine installs the server venv (~5 min) and migrates the template data
dir (~1 min) under ~/.cache/safetyforge/; every later session copies the template and starts in
a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotation import LabelStudioConfig, ServerHandle, server


def _log(message: str) -> None:
    print(f"[label-studio fixture] {message}", flush=True)


@pytest.fixture(scope="session")
def label_studio_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Document root the server serves local files from; tests put their artifacts under it."""
    return tmp_path_factory.mktemp("label-studio-root")


@pytest.fixture(scope="session")
def label_studio(
    label_studio_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerHandle]:
    server.ensure_installed(_log)
    server.ensure_template(_log)
    handle = server.start(
        tmp_path_factory.mktemp("label-studio-data"), document_root=label_studio_root
    )
    yield handle
    server.stop(handle)


@pytest.fixture(scope="session")
def label_studio_config(label_studio: ServerHandle, label_studio_root: Path) -> LabelStudioConfig:
    return LabelStudioConfig(
        url=label_studio.url, api_key=label_studio.token, document_root=str(label_studio_root)
    )
