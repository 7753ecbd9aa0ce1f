"""Back-channel logout outboxes and deliverers on a test database, built as a server process would
at start, with the fixtures the outbox, delivery and `idp logout` tests share.

Time is an injected clock the tests move by hand, so the retry schedule is checked without sleeping.
tests/idp/sessions/conftest.py makes the fixtures available to the session tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.audit import AuditLog
from idp.sessions.delivery import LogoutDeliverer
from idp.sessions.logout_token import LogoutTokens
from idp.sessions.outbox import Delivery, SqlLogoutOutbox
from keys.encryption import KeyEncryptor
from keys.keyring import KeyRing
from keys.store_sql import SqlKeyStore
from tests.clock import Clock

ISSUER = "https://idp.test"
KEK = bytes(range(32))
PERSON = "person-1"
SID = "sid-1"
# For behaviour with no storage rules of its own (signing, HTTP handling, the CLI): SQLite is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Backchannel:
    """Builds outboxes and deliverers on one database, as a server process would at start."""

    def __init__(self, engine: Engine, keyring: KeyRing, registry: ClientRegistry, audit: AuditLog,
                 clock: Clock) -> None:
        self.engine, self.keyring, self.registry, self.audit, self.clock = engine, keyring, registry, audit, clock
        self._opened: list[LogoutDeliverer] = []

    @classmethod
    def on(cls, engine: Engine, clock: Clock) -> Backchannel:
        """A fresh process's view of `engine`: its own keys (ES256 ensured), registry and audit log."""
        keyring = KeyRing(SqlKeyStore(engine), KeyEncryptor(KEK), reload_interval=3600)
        keyring.ensure(["ES256"])
        return cls(engine, keyring, ClientRegistry(SqlClientStore(engine), cache_ttl=0),
                   AuditLog(engine, clock=clock), clock)

    def outbox(self) -> SqlLogoutOutbox:
        return SqlLogoutOutbox(self.engine, self.registry, clock=self.clock)

    def deliverer(self, *, transport: httpx.BaseTransport | None = None, **kwargs: object) -> LogoutDeliverer:
        kwargs.setdefault("timeout", 2.0)
        tokens = LogoutTokens(self.keyring, ISSUER, clock=self.clock.epoch)
        http = httpx.Client(trust_env=False, transport=transport)
        deliverer = LogoutDeliverer(self.outbox(), tokens, self.registry, http, self.audit,
                                    clock=self.clock, **kwargs)  # type: ignore[arg-type]
        self._opened.append(deliverer)
        return deliverer

    def register(self, client_id: str, uri: str | None, **fields: object) -> None:
        self.registry.create(client_id=client_id, name=client_id, redirect_uris=[f"https://{client_id}.example/cb"],
                             backchannel_logout_uri=uri, **fields)  # type: ignore[arg-type]

    def close(self) -> None:
        for deliverer in self._opened:
            deliverer.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bc(engine: Engine, clock: Clock) -> Iterator[Backchannel]:
    backchannel = Backchannel.on(engine, clock)
    yield backchannel
    backchannel.close()


@pytest.fixture
def keyring(bc: Backchannel) -> KeyRing:
    return bc.keyring


@pytest.fixture
def registry(bc: Backchannel) -> ClientRegistry:
    return bc.registry


@pytest.fixture
def audit(bc: Backchannel) -> AuditLog:
    return bc.audit


def only(deliveries: list[Delivery]) -> Delivery:
    assert len(deliveries) == 1, deliveries
    return deliveries[0]
