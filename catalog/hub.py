"""Upload a release folder to a Hugging Face dataset repo: one commit per version, tag `vX.Y.Z`.

The repo is private and gated by default. The token comes from the `HF_TOKEN` environment
variable only and is handed to `HfApi`, never written to a file, a log line or an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from catalog.release import read_manifest, verify_release
from schemas._base import StrictModel

log = logging.getLogger(__name__)
Gating = Literal["auto", "manual", False]


class HubError(RuntimeError):
    pass


class HubApi(Protocol):
    """The part of `huggingface_hub.HfApi` a release upload uses."""

    def create_repo(self, repo_id: str, **kwargs: Any) -> Any: ...
    def update_repo_settings(self, repo_id: str, **kwargs: Any) -> Any: ...
    def list_repo_refs(self, repo_id: str, **kwargs: Any) -> Any: ...
    def upload_folder(self, **kwargs: Any) -> Any: ...
    def create_tag(self, repo_id: str, **kwargs: Any) -> Any: ...


class HubPush(StrictModel):
    repo_id: str
    version: str
    tag: str
    commit_oid: str
    commit_url: str
    private: bool
    gated: str


def hub_api_from_env(env: Mapping[str, str] | None = None) -> HubApi:
    """An `HfApi` holding the token from `HF_TOKEN`; refuses to fall back to a cached login."""
    token = (env if env is not None else os.environ).get("HF_TOKEN", "")
    if not token.strip():
        raise HubError("set HF_TOKEN to a Hugging Face write token to publish to the Hub")
    from huggingface_hub import HfApi

    return HfApi(token=token.strip())


def push_release(
    release_dir: Path,
    repo_id: str,
    api: HubApi,
    *,
    private: bool = True,
    gated: Gating = "manual",
) -> HubPush:
    """Verify the folder against its manifest, then create/configure the repo, upload the folder
    as one commit (files of the previous version that this one lacks are deleted in it) and tag
    that commit. Refuses when the tag already exists: a published version is immutable."""
    problems = verify_release(release_dir)
    if problems:
        raise HubError(f"{release_dir} does not match its manifest: " + "; ".join(problems[:5]))
    version = read_manifest(release_dir)["version"]
    tag = f"v{version}"
    log.info("creating or reusing dataset repo %s (private=%s)", repo_id, private)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.update_repo_settings(repo_id, repo_type="dataset", private=private, gated=gated)
    refs = api.list_repo_refs(repo_id, repo_type="dataset")
    if any(t.name == tag for t in refs.tags):
        raise HubError(f"{repo_id} already has tag {tag}; versions are immutable")
    log.info("uploading %s to %s as one commit", release_dir, repo_id)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(release_dir),
        commit_message=f"Release {tag}",
        delete_patterns=["*"],
    )
    api.create_tag(
        repo_id, repo_type="dataset", tag=tag, revision=commit.oid, tag_message=f"Release {tag}"
    )
    log.info("tagged %s at %s", tag, commit.oid)
    return HubPush(
        repo_id=repo_id,
        version=version,
        tag=tag,
        commit_oid=commit.oid,
        commit_url=str(commit.commit_url),
        private=private,
        gated=str(gated),
    )
