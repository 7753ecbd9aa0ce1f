"""`/metrics` (Prometheus text format) and the per-request HTTP metrics (`idp.metrics` defines them).

`/metrics` answers only a scraper on this machine or one that sends `Authorization: Bearer
<IDP_METRICS_TOKEN>`; anyone else gets the ordinary 404, so it is not advertised. "On this
machine" is the client's address as the rest of the provider sees it (`idp.web.client_address`):
behind a trusted proxy on the same host, the TCP peer is loopback but the client is whoever the
proxy says, so a remote scraper never passes for a local one; a forwarded header from a peer that
is not a trusted proxy is ignored.

Some gauges are states rather than events, read when scraped (no loop in the background): each
signing key's age (`keys/`) and the back-channel logout outbox's pending notifications.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import anyio.to_thread
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Receive, Scope, Send

from idp import metrics
from idp.sessions.outbox import LogoutOutbox
from idp.web.client_address import Network, client_address, parse_address
from keys.keyring import KeyRing

log = logging.getLogger("idp.metrics")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


class HttpMetrics:
    """Requests and their latency by route template, method and status. The labelled children are
    kept here after their first use: `labels()` takes a lock and builds a key on every call."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], object] = {}
        self._latency: dict[tuple[str, str], object] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = metrics.HTTP_REQUESTS.labels(route, method, str(status))
        counter.inc()  # type: ignore[attr-defined]
        histogram = self._latency.get(key[:2])
        if histogram is None:
            histogram = self._latency[key[:2]] = metrics.HTTP_LATENCY.labels(route, method)
        histogram.observe(seconds)  # type: ignore[attr-defined]


class StateCollector:
    """Gauges computed at scrape time from the keyring and the outbox (a database read each)."""

    def __init__(self, keyring: KeyRing, outbox: LogoutOutbox) -> None:
        self._keyring = keyring
        self._outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        ages = GaugeMetricFamily(
            "idp_signing_key_age_seconds",
            "Seconds since each signing key was created, by kid, algorithm and state (next, active, retired).",
            labels=["kid", "alg", "state"])
        active = GaugeMetricFamily(
            "idp_signing_key_active_seconds",
            "Seconds the active signing key of each algorithm has been signing (since it became active).",
            labels=["alg"])
        try:
            for key in list(self._keyring.keys()):
                ages.add_metric([key.kid, key.alg, str(key.state)], (now - key.created_at).total_seconds())
                if str(key.state) == "active":
                    active.add_metric([key.alg], (now - (key.activated_at or key.created_at)).total_seconds())
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can; the breaker counted the outage
            log.warning("signing keys not read for /metrics: %s", type(exc).__name__)
        yield ages
        yield active
        try:
            pending = self._outbox.pending_count()
        except Exception as exc:  # noqa: BLE001
            log.warning("logout outbox not read for /metrics: %s", type(exc).__name__)
        else:
            depth = GaugeMetricFamily("idp_backchannel_outbox_pending",
                                      "Back-channel logout notifications waiting to be delivered.")
            depth.add_metric([], pending)
            yield depth


def exposition(state: CollectorRegistry) -> bytes:
    """This process's metrics, or every process's under `PROMETHEUS_MULTIPROC_DIR`, then `state`."""
    if metrics.MULTIPROCESS_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics.MULTIPROCESS_DIR)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(state)


class MetricsEndpoint:
    """GET /metrics, mounted on the fast paths; `hidden` (the application) answers anyone refused."""

    def __init__(
        self, hidden: ASGIApp, *, keyring: KeyRing, outbox: LogoutOutbox, token: str | None,
        trusted_proxies: Sequence[Network],
    ) -> None:
        self._hidden = hidden
        self._token = f"Bearer {token}".encode() if token else None
        self._proxies = tuple(trusted_proxies)
        # auto_describe off: registering must not read the database; collect() does, when scraped.
        self._state = CollectorRegistry(auto_describe=False)
        self._state.register(StateCollector(keyring, outbox))

    def allowed(self, scope: Scope) -> bool:
        headers = scope["headers"]
        if self._token is not None:
            for name, value in headers:
                if name == b"authorization" and hmac.compare_digest(value, self._token):
                    return True
        peer = scope.get("client")
        forwarded = [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]
        address = parse_address(client_address(peer[0] if peer else None, forwarded, self._proxies))
        return address is not None and address.is_loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.allowed(scope):
            await self._hidden(scope, receive, send)
            return
        # Reading the multiprocess files and the database is blocking I/O: off the event loop.
        body = await anyio.to_thread.run_sync(exposition, self._state)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
