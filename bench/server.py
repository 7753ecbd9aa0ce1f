"""The provider under test: uvicorn (one worker unless asked for more) on 127.0.0.1, started and always
stopped by its pid; with several workers that pid is uvicorn's supervisor, which stops its workers."""

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


def _command(port: int, workers: int) -> list[str]:
    # As `idp serve` runs it: no proxy headers (the provider reads X-Forwarded-For itself, from
    # IDP_TRUSTED_PROXIES only), no server header, no access log.
    return [
        str(_UVICORN), "--factory", "idp.web.asgi:create", "--host", HOST, "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--loop", "asyncio", "--http", "httptools",
        "--no-proxy-headers", "--no-server-header",
    ]


@contextmanager
def running_server(port: int, idp_env: Mapping[str, str], log_path: Path, *, workers: int = 1,
                   pin: list[str] | None = None) -> Iterator[Server]:
    """Start the server (`pin`: a taskset prefix its workers inherit), wait until it answers, yield it;
    on exit terminate it (kill if it lingers)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([*(pin or []), *_command(port, workers)], env=server_env(idp_env), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            server = Server(proc.pid, f"http://{HOST}:{port}")
            _wait_ready(proc, server.base_url, log_path)
            if workers > 1:
                _wait_workers(proc.pid, workers, log_path)
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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and its descendants (uvicorn's workers), from /proc;
    0.0 where there is no /proc. With the count of what was served it gives CPU per request, a
    figure that, unlike the rate, does not depend on how much of the machine others were using."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def _wait_workers(pid: int, workers: int, log_path: Path) -> None:
    """The first worker answers before the others have started: wait until all say so in the log."""
    deadline = time.monotonic() + READY_TIMEOUT
    while log_path.read_text(errors="replace").count("Application startup complete") < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers did not all start; see {log_path}:\n{_tail(log_path)}")
        time.sleep(0.1)


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
