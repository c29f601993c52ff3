"""Install, start, stop and inspect llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

The server lives in its own virtualenv (it compiles llama.cpp: ~7 minutes once per machine and
version), cached under `${XDG_CACHE_HOME:-~/.cache}/safetyforge/` like the Label Studio server.
`start` detaches the server (its own session) and records it in a state file, so `llm stop` and
`llm status` from another process find it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from llmserver.paths import cache_root
from schemas._base import StrictModel
from schemas.files import install_lock

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
_COMPLETE_MARKER = ".safetyforge-complete"
# Any non-empty key will do: the local server checks none.
API_KEY_ENV = "SAFETYFORGE_LLM_KEY"


class LLMServerError(RuntimeError):
    """The server could not be installed, started or found; the message says why."""


class ServerState(StrictModel):
    url: str  # the OpenAI base URL (ends in /v1)
    port: int
    model: str  # the id the server answers to (llm.model)
    gguf: str
    pid: int
    log_path: str

    def set_lines(self) -> list[str]:
        """The `--set` options that point a build at this server."""
        return [
            "--set llm.provider=openai",
            f"--set llm.base_url={self.url}",
            f"--set llm.model={self.model}",
            f"--set llm.api_key_env={API_KEY_ENV}",
            # One request at a time on a few cores: a queued request can wait minutes.
            "--set llm.timeout_s=300",
        ]


def venv_dir() -> Path:
    return cache_root() / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}" / "venv"


def state_path() -> Path:
    return cache_root() / "llm-server.json"


def _run(cmd: list[str], log: Callable[[str], None], env: dict[str, str] | None = None) -> None:
    log("$ " + " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise LLMServerError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_installed(log: Callable[[str], None] = print) -> Path:
    """Install llama-cpp-python[server] into the cached venv if incomplete; its python."""
    python = venv_dir() / "bin" / "python"
    if (venv_dir() / _COMPLETE_MARKER).exists():
        return python
    with install_lock(cache_root(), "llama-cpp-python-install"):
        if (venv_dir() / _COMPLETE_MARKER).exists():
            return python
        log(
            f"Installing llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} into {venv_dir()} "
            "(compiles llama.cpp: ~7 minutes on 2 cores, once per machine)"
        )
        shutil.rmtree(venv_dir(), ignore_errors=True)  # a half-built venv of an interrupted run
        # The interpreter behind our own venv: the server venv must not inherit our packages.
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        _run([str(base), "-m", "venv", str(venv_dir())], log)
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        pip = str(venv_dir() / "bin" / "pip")
        _run(
            [pip, "install", "-q", f"llama-cpp-python[server]=={LLAMA_CPP_PYTHON_VERSION}"],
            log,
            env,
        )
        (venv_dir() / _COMPLETE_MARKER).touch()
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the server binds: closed connections of a stopped server (TIME_WAIT) do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def healthy(state: ServerState, timeout_s: float = 2.0) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{state.url}/models", timeout=timeout_s).status_code == 200
    return False


def start(
    gguf: Path,
    model: str,
    port: int | None = None,
    *,
    n_ctx: int = 4096,
    log_dir: Path | None = None,
    timeout_s: float = 300.0,
    log: Callable[[str], None] = print,
) -> ServerState:
    """Start the server on 127.0.0.1 serving `gguf` as `model`; returns once it answers."""
    python = ensure_installed(log)
    port = port or free_port()
    if not _port_free(port):
        raise LLMServerError(f"port {port} on 127.0.0.1 is in use (is a server already running?)")
    log_dir = log_dir or cache_root()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"llm-server-{port}.log"
    cmd = [
        str(python), "-m", "llama_cpp.server",
        "--model", str(gguf),
        "--model_alias", model,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        # Its default is half the cores: one thread on a 2-core machine.
        "--n_threads", str(os.cpu_count() or 1),
    ]  # fmt: skip
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `llm serve`; stop() ends its process group
        )
    state = ServerState(
        url=f"http://127.0.0.1:{port}/v1",
        port=port,
        model=model,
        gguf=str(gguf),
        pid=proc.pid,
        log_path=str(log_path),
    )
    deadline = time.monotonic() + timeout_s
    while not healthy(state):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(state)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise LLMServerError(f"the LLM server did not start; log {log_path}:\n{tail}")
        time.sleep(0.5)
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop(state: ServerState, timeout_s: float = 20.0) -> None:
    """Terminate the server's process group; kill it if it does not exit in time."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(state.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.pid, signal.SIGKILL)


def save_state(state: ServerState) -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(state.model_dump_json(indent=2))


def running() -> ServerState | None:
    """The server `llm serve` started, if it still runs (a stale state file is removed)."""
    if not state_path().exists():
        return None
    state = ServerState.model_validate_json(state_path().read_text())
    if _alive(state.pid):
        return state
    state_path().unlink(missing_ok=True)
    return None


def forget() -> None:
    state_path().unlink(missing_ok=True)
