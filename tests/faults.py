"""Real servers to break on purpose: a private `redis-server` and a TCP proxy in front of PostgreSQL.

Faults are injected into real processes and real sockets, never simulated: the Redis server is
paused with SIGSTOP (it hangs: connections open, nothing answered), killed, and started again empty
on the same port; the proxy drops every connection and refuses new ones until it is restored, which
is what the app sees when PostgreSQL restarts or the network between them fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.backends import IN_CI


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class RedisServer:
    """A private `redis-server` on a free loopback port, keeping nothing on disk.

    With `cluster_node_timeout` (milliseconds) it is a Redis Cluster node (`tests.redis_cluster`): its
    cluster configuration file, the only file it writes, lets it rejoin with its slots when started
    again after `kill()` (empty, like a primary without replicas that lost its memory).
    """

    def __init__(self, workdir: Path, *, cluster_node_timeout: int | None = None) -> None:
        self.port = free_port()
        self._dir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self._cluster_node_timeout = cluster_node_timeout
        # The cluster bus listens on a port of its own, port + 10000 unless told: told, since a free
        # port above 55535 has no such neighbour.
        self._bus_port = free_port() if cluster_node_timeout is not None else None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again, empty) on the same port."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        cluster = [] if self._cluster_node_timeout is None else [
            "--cluster-enabled", "yes", "--cluster-config-file", str(self._dir / f"nodes-{self.port}.conf"),
            "--cluster-node-timeout", str(self._cluster_node_timeout), "--cluster-port", str(self._bus_port)]
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed local binary with our own arguments
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self._dir), "--protected-mode", "yes", *cluster],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port)

    def pause(self) -> None:
        """The server hangs: its socket accepts, nothing is answered (SIGSTOP)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """The server dies and everything it held is gone."""
        if self._proc is None:
            return
        with suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGCONT)  # a stopped process must run to die cleanly
            self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()


def require_binary(name: str) -> None:
    """Skip (fail under CI=true) when a Redis program the test starts is not installed."""
    if shutil.which(name) is None and not os.path.exists(f"/usr/bin/{name}"):
        if IN_CI:
            pytest.fail(f"{name} is not installed (required under CI=true)")
        pytest.skip(f"{name} is not installed")


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require_binary("redis-server")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target address until `cut()`: then every open connection is
    dropped and new ones are refused (the port is closed) until `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for sock in conns:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restore(self) -> None:
        self.start()


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.cut()


def through_proxy(database_url: str, proxy: TcpProxy) -> str:
    """The same database reached through the proxy."""
    return make_url(database_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@contextmanager
def postgres_behind_proxy(database_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """(the database's URL through a fresh proxy, the proxy)."""
    url = make_url(database_url)
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield through_proxy(database_url, proxy), proxy
