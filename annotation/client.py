"""Push review tasks to, and pull decisions from, a Label Studio server (SDK 2.x).

Bulk only: tasks go in one import request per chunk with their predictions inline, and everything
comes back through one export snapshot (not `tasks.list`, which pages slowly on big projects).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from annotation.tasks import (
    PREDICTION_MODEL_VERSION,
    PullResult,
    build_tasks,
    decisions_from_export,
    labeling_config,
)
from schemas._base import StrictModel
from schemas.images import write_own_file
from schemas.records import ImageRecord, ReviewDecision, Sample

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

IMPORT_CHUNK = 2000
# Full prediction objects and annotator e-mails instead of bare ids in the export.
_SERIALIZATION = {
    "predictions": {"only_id": False},
    "annotations__completed_by": {"only_id": False},
}


class LabelStudioConfig(StrictModel):
    url: str = "http://127.0.0.1:8080"
    api_key: str
    # Directory the server serves local files from (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT).
    document_root: str
    timeout_s: float = 300.0


class PushResult(StrictModel):
    project_id: int
    created: int  # tasks imported by this push
    skipped: int  # tasks already in the project with the same content
    predictions: int


class ReviewUnavailable(RuntimeError):
    """The server is down or refuses our token; the message names the URL and the fix."""


def connect(config: LabelStudioConfig) -> LabelStudio:
    """A client whose token has been checked against the server."""
    # Imported here: the SDK takes ~2 s to import and every build imports this package.
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    client = LabelStudio(base_url=config.url, api_key=config.api_key, timeout=config.timeout_s)
    try:
        client.users.whoami()
    except httpx.TransportError as exc:
        raise ReviewUnavailable(
            f"Label Studio is not reachable at {config.url} ({type(exc).__name__}). Start it with "
            "`make label-studio` (or `safetyforge review server`) and check review.label_studio_url."
        ) from None
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise ReviewUnavailable(
                f"Label Studio at {config.url} rejected the API token (HTTP {exc.status_code}). Set "
                "LABEL_STUDIO_API_KEY to the token printed by `safetyforge review server` (or shown "
                "under Account & Settings in the web UI)."
            ) from None
        raise
    return client


def find_project(client: LabelStudio, title: str) -> int | None:
    for project in client.projects.list(title=title):
        if project.title == title:
            return int(project.id)
    return None


def ensure_project(
    client: LabelStudio,
    title: str,
    annotators_per_task: int = 1,
    label_config: str | None = None,
    description: str = "SafetyForge review: accept or reject each question with its images.",
) -> int:
    """The project titled `title`, created with `label_config` (default: the review config)."""
    project_id = find_project(client, title)
    if project_id is not None:
        return project_id
    project = client.projects.create(
        title=title,
        description=description,
        label_config=label_config or labeling_config(),
        model_version=PREDICTION_MODEL_VERSION,
        maximum_annotations=annotators_per_task,
    )
    return int(project.id)


def ensure_local_storage(client: LabelStudio, project_id: int, directory: Path) -> None:
    """Local files are only served (not 404) once a storage covering them exists."""
    path = str(directory.resolve())
    if any(s.path == path for s in client.import_storage.local.list(project=project_id)):
        return
    client.import_storage.local.create(project=project_id, path=path, title="safetyforge artifacts")


def export_tasks(client: LabelStudio, project_id: int, poll_s: float = 0.2) -> list[dict[str, Any]]:
    """Every task of the project with its annotations and full predictions, via one snapshot."""
    export = client.projects.exports.create(
        id=project_id, title="safetyforge pull", serialization_options=_SERIALIZATION
    )
    try:
        while export.status not in ("completed", "failed"):
            time.sleep(poll_s)
            export = client.projects.exports.get(id=project_id, export_pk=export.id)
        if export.status == "failed":
            raise RuntimeError(f"Label Studio export {export.id} of project {project_id} failed")
        raw = b"".join(
            client.projects.exports.download(id=project_id, export_pk=export.id, export_type="JSON")
        )
    finally:
        client.projects.exports.delete(id=project_id, export_pk=export.id)
    return json.loads(raw)


def push_tasks(
    config: LabelStudioConfig,
    project_title: str,
    samples: Iterable[Sample],
    images: Mapping[str, ImageRecord],
    artifacts_dir: Path,
    predictions: Iterable[ReviewDecision] = (),
    scenario_names: Mapping[str, str] | None = None,
    annotators_per_task: int = 1,
) -> PushResult:
    """Create or reuse the project and import the tasks it does not hold yet (by content key).
    Benign twins are not pushed: the review rules alone decide them."""
    client = connect(config)
    samples = [s for s in samples if s.twin_of is None]
    for image_id in {i for sample in samples for i in sample.image_ids}:
        write_own_file(artifacts_dir, images[image_id])  # a packed fragment gets a file to show
    tasks = build_tasks(
        samples, images, artifacts_dir, Path(config.document_root), predictions, scenario_names
    )
    project_id = ensure_project(client, project_title, annotators_per_task)
    ensure_local_storage(client, project_id, artifacts_dir)
    existing = {t["data"].get("task_key") for t in export_tasks(client, project_id)}
    new = [t for t in tasks if t["data"]["task_key"] not in existing]
    import_new_tasks(client, project_id, new, existing)
    return PushResult(
        project_id=project_id,
        created=len(new),
        skipped=len(tasks) - len(new),
        predictions=sum(len(t.get("predictions", [])) for t in new),
    )


def import_new_tasks(
    client: LabelStudio,
    project_id: int,
    tasks: list[dict[str, Any]],
    existing: set[str] | None = None,
) -> int:
    """Import, in bulk chunks, the tasks whose `task_key` the project does not hold yet (read
    from an export unless given); returns how many were imported."""
    if existing is None:
        existing = {t["data"].get("task_key") for t in export_tasks(client, project_id)}
    new = [t for t in tasks if t["data"]["task_key"] not in existing]
    for start in range(0, len(new), IMPORT_CHUNK):
        client.projects.import_tasks(id=project_id, request=new[start : start + IMPORT_CHUNK])
    return len(new)


def pull_decisions(config: LabelStudioConfig, project_id: int, min_annotations: int) -> PullResult:
    """All annotators' decisions, the majority consensus and what is still pending."""
    client = connect(config)
    return decisions_from_export(export_tasks(client, project_id), min_annotations)
