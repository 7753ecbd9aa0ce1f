"""Remembered consents (SQLite and PostgreSQL) and the rule for when the consent page is shown."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from clients.models import Client
from idp.sessions.consents import Consent, ConsentStore, SqlConsentStore, needs_consent
from tests.clock import Clock

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)




@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def consents(engine: Engine, clock: Clock) -> ConsentStore:
    return SqlConsentStore(engine, clock=clock)


def test_nothing_is_granted_at_first(consents: ConsentStore) -> None:
    assert consents.granted("p1", "shop") == frozenset()
    assert consents.for_person("p1") == []
    assert consents.withdraw("p1", "shop") is False


def test_grants_grow_to_the_union_and_keep_the_latest_time(consents: ConsentStore, clock: Clock) -> None:
    assert consents.grant("p1", "shop", ["openid", "profile"]) == {"openid", "profile"}
    clock.now = T0 + timedelta(hours=1)
    assert consents.grant("p1", "shop", iter(["openid", "phone"])) == {"openid", "profile", "phone"}
    assert consents.granted("p1", "shop") == {"openid", "profile", "phone"}
    assert consents.for_person("p1") == [Consent("shop", frozenset({"openid", "profile", "phone"}), clock.now)]


def test_consents_are_per_person_and_client(consents: ConsentStore) -> None:
    consents.grant("p1", "shop", ["openid"])
    consents.grant("p1", "bank", ["openid", "phone"])
    consents.grant("p2", "shop", ["profile"])
    assert consents.granted("p1", "shop") == {"openid"}
    assert consents.granted("p2", "shop") == {"profile"}
    assert [c.client_id for c in consents.for_person("p1")] == ["bank", "shop"]
    assert consents.for_person("p1")[0].granted_at.tzinfo is not None


def test_withdraw_forgets_only_that_client(consents: ConsentStore) -> None:
    consents.grant("p1", "shop", ["openid"])
    consents.grant("p1", "bank", ["openid"])
    assert consents.withdraw("p1", "shop") is True
    assert consents.granted("p1", "shop") == frozenset()
    assert consents.granted("p1", "bank") == {"openid"}
    assert consents.withdraw("p1", "shop") is False
    consents.grant("p1", "shop", ["phone"])  # granting again after a withdrawal starts afresh
    assert consents.granted("p1", "shop") == {"phone"}


def test_an_empty_grant_is_remembered(consents: ConsentStore) -> None:
    assert consents.grant("p1", "shop", []) == frozenset()
    assert [c.scopes for c in consents.for_person("p1")] == [frozenset()]


def test_concurrent_grants_all_survive(consents: ConsentStore) -> None:
    errors: list[BaseException] = []

    def grant(scope: str) -> None:
        try:
            consents.grant("p1", "shop", [scope])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=grant, args=(f"s{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert consents.granted("p1", "shop") == {f"s{i}" for i in range(8)}


# The rule, exhaustively.

TRUSTED = Client(
    client_id="portal", name="Portal", token_endpoint_auth_method="client_secret_basic",
    redirect_uris=("https://portal.example/cb",), post_logout_redirect_uris=(),
    grant_types=("authorization_code",), scopes=("openid", "profile", "phone"),
)
THIRD_PARTY = replace(TRUSTED, client_id="shop", require_consent=True)
SCOPE_SETS = [frozenset(), frozenset({"openid"}), frozenset({"openid", "profile"}),
              frozenset({"openid", "profile", "phone"})]
PROMPT_SETS = [frozenset(), frozenset({"consent"}), frozenset({"login"}), frozenset({"login", "consent"}),
               frozenset({"none"}), frozenset({"select_account"})]


def _expected(client: Client, requested: frozenset[str], granted: frozenset[str], prompts: frozenset[str],
              consented: bool) -> bool:
    if "consent" in prompts:
        return not consented
    return client.require_consent and not requested <= granted and not consented


@pytest.mark.parametrize("client", [TRUSTED, THIRD_PARTY], ids=["trusted", "requires-consent"])
def test_needs_consent_for_every_combination(client: Client) -> None:
    for requested, granted, prompts, consented in itertools.product(
        SCOPE_SETS, SCOPE_SETS, PROMPT_SETS, (False, True)
    ):
        got = needs_consent(client, sorted(requested), granted, prompts, consented)
        assert got is _expected(client, requested, granted, prompts, consented), (
            requested, granted, prompts, consented)


def test_needs_consent_spot_checks() -> None:
    everything = frozenset({"openid", "profile", "phone"})
    assert needs_consent(TRUSTED, ["openid"], frozenset(), frozenset(), False) is False
    assert needs_consent(TRUSTED, ["openid"], everything, {"consent"}, False) is True
    assert needs_consent(TRUSTED, ["openid"], frozenset(), {"consent"}, True) is False
    assert needs_consent(THIRD_PARTY, ["openid"], frozenset(), frozenset(), False) is True
    assert needs_consent(THIRD_PARTY, ["openid"], frozenset({"openid"}), frozenset(), False) is False
    assert needs_consent(THIRD_PARTY, ["openid", "phone"], frozenset({"openid", "profile"}), frozenset(), False)
    assert needs_consent(THIRD_PARTY, ["openid", "phone"], frozenset(), frozenset(), True) is False
    # openid is a scope like the others: a grant without it does not cover a request with it.
    assert needs_consent(THIRD_PARTY, ["openid"], frozenset({"profile"}), frozenset(), False) is True
    assert needs_consent(THIRD_PARTY, [], frozenset(), frozenset(), False) is False
