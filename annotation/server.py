"""Install, initialise, start and stop a local Label Studio server (SQLite, 127.0.0.1 only).

The server lives in its own virtualenv because its pins clash with ours (redis<5.3 vs prefect's
redis>=6). The venv and a migrated "template" data dir are cached per version under
`${XDG_CACHE_HOME:-~/.cache}/safetyforge/`, so fresh clones on one machine reuse both: the first
install takes minutes, the first start ~1 min of migrations, a copy of the template ~6 s.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from schemas._base import StrictModel
from schemas.files import install_lock

LABEL_STUDIO_VERSION = "1.23.2"
ADMIN_USERNAME = "admin@safetyforge.local"
CREDENTIALS_FILE = "safetyforge-credentials.json"
_COMPLETE_MARKER = ".safetyforge-complete"
# Variables Label Studio reads besides LABEL_STUDIO_*: a stray USERNAME or PORT changes its setup.
_CLEARED_ENV = ("USERNAME", "PASSWORD", "HOST", "PORT")
# Servers this process started, by pid: stop() waits on them (and nothing else reaps them).
_RUNNING: dict[int, subprocess.Popen[bytes]] = {}


class ServerError(RuntimeError):
    """The Label Studio server could not be installed or started; the message says why."""


class Credentials(StrictModel):
    username: str
    password: str
    token: str


class ServerHandle(StrictModel):
    url: str
    port: int
    data_dir: str
    pid: int
    log_path: str
    credentials: Credentials

    @property
    def token(self) -> str:
        return self.credentials.token


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "safetyforge" / f"label-studio-{LABEL_STUDIO_VERSION}"


def venv_dir() -> Path:
    return cache_dir() / "venv"


def template_dir() -> Path:
    return cache_dir() / "template-data"


def executable() -> Path:
    return venv_dir() / "bin" / "label-studio"


def _run(cmd: list[str], log: Callable[[str], None]) -> None:
    log("$ " + " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise ServerError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_installed(log: Callable[[str], None] = print) -> Path:
    """Install label-studio into the cached venv if it is not complete; return the executable."""
    marker = venv_dir() / _COMPLETE_MARKER
    if marker.exists():
        return executable()
    with install_lock(cache_dir(), "install"):
        if marker.exists():
            return executable()
        log(
            f"Installing Label Studio {LABEL_STUDIO_VERSION} into {venv_dir()} (a few minutes, once)"
        )
        shutil.rmtree(venv_dir(), ignore_errors=True)  # a half-built venv from an interrupted run
        # The interpreter behind our own venv: the server venv must not inherit our packages.
        python = (
            Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        )
        _run([str(python), "-m", "venv", str(venv_dir())], log)
        pip = str(venv_dir() / "bin" / "pip")
        _run([pip, "install", "-q", "--upgrade", "pip"], log)
        _run([pip, "install", "-q", f"label-studio=={LABEL_STUDIO_VERSION}"], log)
        marker.touch()
    return executable()


def server_env(data_dir: Path, document_root: Path, credentials: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
    env = {k: v for k, v in env.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=credentials.username,
        LABEL_STUDIO_PASSWORD=credentials.password,
        # Legacy tokens are only enabled for an organisation created with this set (first start).
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_USER_TOKEN=credentials.token,
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root),
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        LATEST_VERSION_CHECK="false",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def read_credentials(data_dir: Path) -> Credentials:
    return Credentials.model_validate_json((data_dir / CREDENTIALS_FILE).read_text())


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(
                f"Label Studio exited with code {proc.returncode} during start-up; log {log_path}:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise ServerError(
        f"Label Studio did not answer {url}/health within {timeout_s:.0f} s; log {log_path}"
    )


def start(
    data_dir: Path,
    port: int | None = None,
    document_root: Path | None = None,
    timeout_s: float = 300.0,
) -> ServerHandle:
    """Start a server on 127.0.0.1 over `data_dir` (initialised from the template if empty)."""
    data_dir = data_dir.resolve()
    if not (data_dir / CREDENTIALS_FILE).exists():
        copy_template(data_dir)
    credentials = read_credentials(data_dir)
    port = port or free_port()
    root = (document_root or data_dir).resolve()
    return _spawn(data_dir, port, root, credentials, timeout_s)


def _spawn(
    data_dir: Path, port: int, root: Path, credentials: Credentials, timeout_s: float
) -> ServerHandle:
    exe = ensure_installed()
    url = f"http://127.0.0.1:{port}"
    if not _port_free(port):
        # Otherwise the health check could answer for whatever already listens there.
        raise ServerError(f"port {port} is in use (is Label Studio already running at {url}?)")
    log_path = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            cmd,
            env=server_env(data_dir, root, credentials),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() ends its children too
        )
    _RUNNING[proc.pid] = proc
    handle = ServerHandle(
        url=url,
        port=port,
        data_dir=str(data_dir),
        pid=proc.pid,
        log_path=str(log_path),
        credentials=credentials,
    )
    try:
        _wait_healthy(url, proc, log_path, timeout_s)
    except BaseException:
        stop(handle)
        raise
    return handle


def stop(handle: ServerHandle, timeout_s: float = 20.0) -> None:
    """Terminate the server's process group; kill it if it does not exit in time."""
    proc = _RUNNING.pop(handle.pid, None)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(handle.pid, signal.SIGTERM)
    if proc is None:  # started by another process: signalled, not ours to wait for
        return
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(handle.pid, signal.SIGKILL)
        proc.wait()


def ensure_template(log: Callable[[str], None] = print) -> Path:
    """Build the migrated template data dir (admin user + legacy token) once per machine."""
    final = template_dir()
    if (final / CREDENTIALS_FILE).exists():
        return final
    ensure_installed(log)
    with install_lock(cache_dir(), "template"):
        if (final / CREDENTIALS_FILE).exists():
            return final
        log(
            f"Initialising a Label Studio template data dir in {final} (~1 min of migrations, once)"
        )
        building = final.with_name(final.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        credentials = Credentials(
            username=ADMIN_USERNAME,
            password=secrets.token_urlsafe(12),
            token=secrets.token_hex(20),
        )
        handle = _spawn(building, free_port(), building, credentials, timeout_s=600.0)
        try:
            _check_token(handle.url, credentials.token)
        finally:
            stop(handle)
        (building / "server.log").unlink(missing_ok=True)
        (building / CREDENTIALS_FILE).write_text(credentials.model_dump_json(indent=2))
        os.chmod(building / CREDENTIALS_FILE, 0o600)
        building.rename(final)
    return final


def _check_token(url: str, token: str) -> None:
    response = httpx.get(
        f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    if response.status_code != 200:
        raise ServerError(
            f"the new server at {url} rejected its own token ({response.status_code})"
        )


def copy_template(data_dir: Path) -> None:
    """Fill `data_dir` with a copy of the migrated template (creates it if missing)."""
    source = ensure_template()
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, data_dir, dirs_exist_ok=True)
