"""The `RefreshTokenStore` contract, run against `SqlRefreshTokenStore` on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from idp.oauth.refresh_tokens import (
    AlreadyUsed,
    Family,
    OfClient,
    OfSession,
    RefreshTokenStore,
    SqlRefreshTokenStore,
    hash_token,
)
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, new_person
from tests.clock import Clock

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
DAY = 24 * 3600


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def tokens(engine: Engine, clock: Clock) -> RefreshTokenStore:
    return SqlRefreshTokenStore(engine, clock)


@pytest.fixture
def people(engine: Engine) -> dict[str, str]:
    """Two people by name: one active, one suspended."""
    store = SqlPersonStore(engine)
    active = new_person(make_national_code("001234567"), "Sara", "Ahmadi", now=T0)
    suspended = replace(new_person(make_national_code("987654321"), "Ali", "Karimi", now=T0), status="suspended")
    store.add(active)
    store.add(suspended)
    return {"active": active.id, "suspended": suspended.id}


def issue(tokens: RefreshTokenStore, *, family: str = "fam-1", client: str = "shop", person: str = "p1",
          sid: str | None = "sid-1", jti: str | None = "jti-1", ttl: int = DAY, replaces: str | None = None) -> str:
    return tokens.issue(family_id=family, client_id=client, person_id=person, session_id=sid, scope="openid profile",
                        auth={"acr": "urn:idp:loa:2", "amr": ["pwd", "otp"], "auth_time": 1}, access_jti=jti,
                        ttl=ttl, replaces=replaces)


def test_issued_token_is_found_with_everything_stored(tokens: RefreshTokenStore, people: dict[str, str]) -> None:
    token = issue(tokens, person=people["active"])
    found = tokens.find(token)
    assert found is not None
    assert found.token_hash == hash_token(token) and found.family_id == "fam-1"
    assert (found.client_id, found.person_id, found.session_id) == ("shop", people["active"], "sid-1")
    assert found.scope == "openid profile" and found.get_scope() == "openid profile"
    assert found.auth == {"acr": "urn:idp:loa:2", "amr": ["pwd", "otp"], "auth_time": 1}
    assert found.access_jti == "jti-1"
    assert found.issued_at == T0 and found.expires_at == T0 + timedelta(seconds=DAY)
    assert found.issued_at.tzinfo is not None and found.expires_at.tzinfo is not None
    assert found.get_expires_in() == DAY
    assert found.used_at is None and found.revoked_at is None and not found.is_revoked()
    assert found.person_active is True


def test_only_the_hash_is_stored_and_tokens_are_random(tokens: RefreshTokenStore) -> None:
    first, second = issue(tokens), issue(tokens)
    assert first != second and len(first) >= 43
    assert tokens.find(hash_token(first)) is None  # the hash is not a token


def test_unknown_token_is_none(tokens: RefreshTokenStore) -> None:
    assert tokens.find("no-such-token") is None


def test_person_status_is_read_with_the_token(tokens: RefreshTokenStore, people: dict[str, str]) -> None:
    assert tokens.find(issue(tokens, person=people["suspended"])).person_active is False  # type: ignore[union-attr]
    assert tokens.find(issue(tokens, person="nobody")).person_active is False  # type: ignore[union-attr]


def test_rotation_marks_the_old_token_used(tokens: RefreshTokenStore, clock: Clock) -> None:
    old = issue(tokens)
    clock.advance(60)
    new = issue(tokens, jti="jti-2", replaces=hash_token(old))
    used = tokens.find(old)
    assert used is not None and used.used_at == T0 + timedelta(seconds=60) and used.is_revoked()
    fresh = tokens.find(new)
    assert fresh is not None and fresh.used_at is None and fresh.issued_at == T0 + timedelta(seconds=60)


def test_rotating_a_used_token_stores_nothing(tokens: RefreshTokenStore) -> None:
    old = issue(tokens)
    issue(tokens, replaces=hash_token(old))
    with pytest.raises(AlreadyUsed):
        issue(tokens, family="other", replaces=hash_token(old))
    assert not tokens.revoke(Family("other"))  # nothing of the refused rotation was stored


def test_rotating_an_unknown_token_is_refused(tokens: RefreshTokenStore) -> None:
    with pytest.raises(AlreadyUsed):
        issue(tokens, replaces=hash_token("never-issued"))


def test_of_concurrent_rotations_exactly_one_wins(tokens: RefreshTokenStore) -> None:
    old = hash_token(issue(tokens))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def rotate(i: int) -> None:
        barrier.wait(timeout=5)
        try:
            issue(tokens, jti=f"jti-{i}", replaces=old)
            outcomes.append("won")
        except AlreadyUsed:
            outcomes.append("lost")

    threads = [threading.Thread(target=rotate, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]


def test_expiry(tokens: RefreshTokenStore) -> None:
    # `is_expired` reads the real time; the store dates tokens from its clock, at T0 (2030).
    token = tokens.find(issue(tokens, ttl=-20 * 365 * DAY))
    assert token is not None and token.is_expired()
    assert not tokens.find(issue(tokens, ttl=DAY)).is_expired()  # type: ignore[union-attr]


def test_revoking_a_family_revokes_every_token_of_it_and_only_it(tokens: RefreshTokenStore, clock: Clock) -> None:
    first = issue(tokens, jti="a1")
    second = issue(tokens, jti="a2", replaces=hash_token(first))
    no_jti = issue(tokens, jti=None)
    other = issue(tokens, family="fam-2", jti="b1")
    clock.advance(5)
    assert sorted(tokens.revoke(Family("fam-1"))) == ["a1", "a2"]
    for token in (first, second, no_jti):
        found = tokens.find(token)
        assert found is not None and found.revoked_at == T0 + timedelta(seconds=5) and found.is_revoked()
    assert tokens.find(other).revoked_at is None  # type: ignore[union-attr]


def test_revoking_again_keeps_the_first_time_and_still_names_the_access_tokens(
        tokens: RefreshTokenStore, clock: Clock) -> None:
    token = issue(tokens)
    tokens.revoke(Family("fam-1"))
    clock.advance(60)
    assert tokens.revoke(Family("fam-1")) == ["jti-1"]
    assert tokens.find(token).revoked_at == T0  # type: ignore[union-attr]


def test_revoking_a_session_revokes_its_tokens_in_every_family(tokens: RefreshTokenStore) -> None:
    a = issue(tokens, family="f1", sid="s1", jti="a")
    b = issue(tokens, family="f2", client="bank", sid="s1", jti="b")
    c = issue(tokens, family="f3", sid="s2", jti="c")
    d = issue(tokens, family="f4", sid=None, jti="d")
    assert sorted(tokens.revoke(OfSession("s1"))) == ["a", "b"]
    assert [tokens.find(t).is_revoked() for t in (a, b, c, d)] == [True, True, False, False]  # type: ignore[union-attr]


def test_revoking_a_client_revokes_what_it_holds_for_that_person(tokens: RefreshTokenStore) -> None:
    mine = issue(tokens, family="f1", person="p1", client="shop", jti="a")
    again = issue(tokens, family="f2", person="p1", client="shop", sid="s9", jti="b")
    other_client = issue(tokens, family="f3", person="p1", client="bank", jti="c")
    other_person = issue(tokens, family="f4", person="p2", client="shop", jti="d")
    assert sorted(tokens.revoke(OfClient("p1", "shop"))) == ["a", "b"]
    assert [tokens.find(t).is_revoked() for t in (mine, again, other_client, other_person)] == [  # type: ignore[union-attr]
        True, True, False, False]


def test_revoking_nothing_returns_nothing(tokens: RefreshTokenStore) -> None:
    assert tokens.revoke(Family("none")) == []
    assert tokens.revoke(OfSession("none")) == []
    assert tokens.revoke(OfClient("none", "none")) == []


def test_clients_of_lists_live_tokens_with_the_newest_issue_time(tokens: RefreshTokenStore, clock: Clock) -> None:
    issue(tokens, family="f1", client="shop")
    clock.advance(60)
    issue(tokens, family="f2", client="shop")
    rotated = issue(tokens, family="f3", client="bank")
    clock.advance(60)
    issue(tokens, family="f3", client="bank", replaces=hash_token(rotated))
    issue(tokens, family="f4", client="revoked")
    tokens.revoke(Family("f4"))
    issue(tokens, family="f5", client="expired", ttl=30)
    issue(tokens, family="f6", client="someone-elses", person="p2")
    clock.advance(31)
    assert tokens.clients_of("p1") == {"shop": T0 + timedelta(seconds=60), "bank": T0 + timedelta(seconds=120)}
    assert all(t.tzinfo is not None for t in tokens.clients_of("p1").values())
    assert tokens.clients_of("nobody") == {}


def test_expired_tokens_are_pruned_and_used_ones_are_kept_until_they_expire(
    tokens: RefreshTokenStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import idp.oauth.refresh_tokens as module

    monkeypatch.setattr(module, "PRUNE_BATCH", 2)  # several batches
    short = [issue(tokens, family=f"short-{i}", ttl=60) for i in range(5)]
    first = issue(tokens, family="long")
    second = issue(tokens, family="long", replaces=hash_token(first))  # `first` is now used
    assert tokens.prune() == 0
    clock.advance(61)
    assert tokens.prune() == 5
    assert all(tokens.find(t) is None for t in short)
    # The used token is still there: presenting it again is still recognised as a replay.
    kept = tokens.find(first)
    assert kept is not None and kept.used_at is not None
    assert tokens.find(second) is not None
    clock.advance(DAY)
    assert tokens.prune() == 2
    assert tokens.find(first) is None and tokens.find(second) is None
