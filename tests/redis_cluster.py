"""A real Redis Cluster for tests: three primaries (no replicas) on free loopback ports, started as
`redis-server --cluster-enabled yes`, joined with `redis-cli --cluster create`, stopped by pid.

`tests/conftest.py` starts one per test process (`redis_cluster`, on first use) for the tests marked
`cluster`: their `store` and `idp` fixtures run on it too (`also_on_cluster`). Fault tests start a
cluster of their own to break (`tests/idp/web/test_outages.py`), so the shared one stays healthy.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from tests.faults import RedisServer, require_binary

PRIMARIES = 3


class LocalCluster:
    def __init__(self, workdir: Path, node_timeout_ms: int) -> None:
        self.nodes = [RedisServer(workdir, cluster_node_timeout=node_timeout_ms) for _ in range(PRIMARIES)]

    @property
    def url(self) -> str:
        """The provider's `IDP_REDIS_URL` for this cluster."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes) + "/"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run(  # noqa: S603 - a fixed local binary with our own arguments
            [cli, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        self.wait_until_ok()

    def wait_until_ok(self, timeout: float = 60.0) -> None:
        """Until every node says `cluster_state:ok` (all slots served, every node agreeing)."""
        deadline = time.monotonic() + timeout
        while not all(self.state(node) == "ok" for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster is not ok: {[self.state(node) for node in self.nodes]}")
            time.sleep(0.1)

    @staticmethod
    def state(node: RedisServer) -> str | None:
        """`cluster_state` as `node` sees it ("ok", "fail"), or None if it does not answer."""
        with suppress(redis.RedisError), redis.Redis(port=node.port, socket_timeout=1) as client:
            info = client.execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            for line in text.splitlines():
                if line.startswith("cluster_state:"):
                    return line.split(":", 1)[1].strip()
        return None

    def node_of(self, key: str) -> RedisServer:
        """The primary that serves `key`'s hash slot."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            with suppress(redis.RedisError), redis.Redis(port=node.port, socket_timeout=1) as client:
                for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return next(n for n in self.nodes if n.port == int(primary[1]))
        raise RuntimeError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


@contextmanager
def local_cluster(workdir: Path, node_timeout_ms: int = 15000) -> Iterator[LocalCluster]:
    """A started cluster; `node_timeout_ms` is how long a silent node takes to be marked failed."""
    require_binary("redis-server")
    require_binary("redis-cli")
    cluster = LocalCluster(workdir, node_timeout_ms)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def cluster_store(cluster: LocalCluster) -> Iterator[object]:
    """A RedisStore on the cluster under a prefix of its own, emptied afterwards (like `redis_store`)."""
    from idp.storage.redis import RedisStore

    store = RedisStore(cluster.url, prefix=f"idp-test-{uuid.uuid4().hex[:12]}:")
    try:
        yield store
    finally:
        store.flush_prefix()
        store.close()


def also_on_cluster(metafunc: pytest.Metafunc, fixture: str, params: list[str]) -> None:
    """A test marked `cluster` that uses `fixture` runs on each of `params` (the fixture's own
    backends and its cluster one); other tests keep the fixture's own params."""
    if fixture in metafunc.fixturenames and metafunc.definition.get_closest_marker("cluster") is not None:
        # Added as a parametrize mark, which pytest applies in place of the fixture's own params;
        # calling metafunc.parametrize here would parametrize the name twice.
        metafunc.definition.add_marker(pytest.mark.parametrize(fixture, params, indirect=True))
