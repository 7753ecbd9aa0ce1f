"""The provider under test: one uvicorn worker on 127.0.0.1, started and always stopped by its pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_UVICORN = Path(sys.executable).with_name("uvicorn")


@dataclass(frozen=True, slots=True)
class Server:
    pid: int
    base_url: str


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(idp_env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any IDP_* variable, plus exactly the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(idp_env)
    return env


def _command(port: int) -> list[str]:
    return [
        str(_UVICORN), "--factory", "idp.web.asgi:create", "--host", HOST, "--port", str(port),
        "--workers", "1", "--no-access-log", "--loop", "asyncio", "--http", "httptools",
    ]


@contextmanager
def running_server(port: int, idp_env: Mapping[str, str], log_path: Path) -> Iterator[Server]:
    """Start the server, wait until it answers, yield it; on exit terminate it (kill if it lingers)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(_command(port), env=server_env(idp_env), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            server = Server(proc.pid, f"http://{HOST}:{port}")
            _wait_ready(proc, server.base_url, log_path)
            yield server
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"{base_url}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT:.0f}s; see {log_path}:\n{_tail(log_path)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
