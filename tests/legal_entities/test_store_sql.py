"""The contract of `LegalEntitiesStore`, over the embedded (SQLite) and the server (PostgreSQL) database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from legal_entities.models import Entity, EntityStatus, Mandate, Representation, Source
from legal_entities.store import LegalEntitiesStore
from legal_entities.store_sql import SqlLegalEntitiesStore
from levels.iranian_input import make_national_code, make_national_id

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)
ACME = make_national_id("1038028479")
BETA = make_national_id("1410001234")
CEO = make_national_code("001234567")
CLERK = make_national_code("123456789")
AGENT = make_national_code("111222333")


@pytest.fixture
def store(engine: Engine) -> LegalEntitiesStore:
    return SqlLegalEntitiesStore(engine)


def entity(national_id: str = ACME, name: str = "Acme", status: EntityStatus = EntityStatus.ACTIVE) -> Entity:
    return Entity(f"e-{national_id}", national_id, name, "llc", status, 1, NOW, NOW)


def rep(id_: str, e: Entity, code: str = CEO, *, role: str = "ceo", powers: frozenset[str] = frozenset({"*"}),
        source: Source = Source.REGISTRY, parent: Representation | None = None, granted_by: str | None = None,
        valid_from: datetime = NOW, valid_until: datetime | None = None, created: datetime = NOW) -> Representation:
    return Representation(id_, e.id, code, role, powers, valid_from, valid_until, source, granted_by,
                          parent.id if parent else None, created, None)


def stored(store: LegalEntitiesStore, *entities: Entity, reps: tuple[Representation, ...] = ()) -> None:
    with store.transaction() as tx:
        tx.insert_entities(list(entities))
        tx.insert_representations(list(reps))


def test_entities_round_trip_with_times_in_utc(store: LegalEntitiesStore) -> None:
    acme = replace(entity(), created_at=NOW.astimezone(UTC), updated_at=NOW + DAY)
    stored(store, acme)
    assert store.entity(ACME) == acme
    assert store.entity(BETA) is None
    got = store.entity(ACME)
    assert got is not None and got.created_at.tzinfo is UTC and got.status is EntityStatus.ACTIVE


def test_entities_are_listed_by_name_filtered_and_paged(store: LegalEntitiesStore) -> None:
    gamma = make_national_id("1086000042")
    stored(store, entity(BETA, "Beta", EntityStatus.SUSPENDED), entity(ACME, "Acme"), entity(gamma, "Acme"))
    assert [e.national_id for e in store.entities(status=None, limit=10, offset=0)] == [ACME, gamma, BETA]
    assert [e.national_id for e in store.entities(status=EntityStatus.SUSPENDED, limit=10, offset=0)] == [BETA]
    assert [e.national_id for e in store.entities(status=None, limit=1, offset=1)] == [gamma]


def test_entities_are_updated_by_id(store: LegalEntitiesStore) -> None:
    stored(store, entity(), entity(BETA, "Beta"))
    changed = replace(entity(), name="Acme Ltd", type="pjs", status=EntityStatus.DISSOLVED, min_level=3,
                      updated_at=NOW + DAY)
    with store.transaction() as tx:
        assert tx.entity(ACME, for_update=True) == entity()
        tx.update_entities([changed])
    assert store.entity(ACME) == changed
    assert store.entity(BETA) == entity(BETA, "Beta")
    with store.transaction() as tx:
        assert sorted(e.national_id for e in tx.entities_by_national_id([ACME, BETA, "10000000000"])) == sorted(
            [ACME, BETA])


def test_a_transaction_that_raises_keeps_nothing(store: LegalEntitiesStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_entities([entity()])
        raise RuntimeError
    assert store.entity(ACME) is None


def test_representations_in_the_order_made_and_ended_ones_on_request(store: LegalEntitiesStore) -> None:
    acme = entity()
    first = rep("m-1", acme, created=NOW - DAY)
    expired = rep("m-2", acme, CLERK, role="clerk", powers=frozenset({"tax.file"}), valid_until=NOW)
    later = rep("m-3", acme, AGENT, role="agent", valid_from=NOW + DAY, created=NOW + DAY)
    stored(store, acme, reps=(later, expired, first))
    assert store.representations(acme.id, include_ended=True, now=NOW) == [first, expired, later]
    # Ended at `now` (valid until is exclusive); one not yet started is listed.
    assert store.representations(acme.id, include_ended=False, now=NOW) == [first, later]
    assert store.representations(acme.id, include_ended=False, now=NOW - DAY) == [first, expired, later]


def test_mandates_of_a_person_by_entity_name_then_role(store: LegalEntitiesStore) -> None:
    acme, beta = entity(ACME, "Zeta"), entity(BETA, "Alpha")
    reps = (rep("m-1", acme), rep("m-2", beta, role="signatory"), rep("m-3", beta, role="chair"),
            rep("m-4", acme, CLERK))
    stored(store, acme, beta, reps=reps)
    mandates = store.mandates_of(CEO, include_ended=False, now=NOW)
    assert [(m.entity.name, m.representation.role) for m in mandates] == [
        ("Alpha", "chair"), ("Alpha", "signatory"), ("Zeta", "ceo")]
    assert mandates[2] == Mandate(acme, reps[0])
    assert store.mandate("m-4") == Mandate(acme, reps[3])
    assert store.mandate("m-0") is None


def test_delegations_by_a_person_not_ended(store: LegalEntitiesStore) -> None:
    acme = entity()
    ceo = rep("m-1", acme)
    given = rep("m-2", acme, CLERK, role="employee", source=Source.DELEGATION, parent=ceo, granted_by=CEO)
    ended = rep("m-3", acme, AGENT, role="agent", source=Source.DELEGATION, parent=ceo, granted_by=CEO,
                valid_until=NOW)
    by_operator = rep("m-4", acme, AGENT, role="agent", source=Source.OPERATOR, granted_by=CEO)
    stored(store, acme, reps=(ceo, given, ended, by_operator))
    assert store.delegations_by(CEO, now=NOW) == [Mandate(acme, given)]
    with store.transaction() as tx:
        # Unrevoked, ended or not: what a revocation or a renewal must still reach.
        assert sorted(r.id for r in tx.unrevoked_delegations_of(["m-1"])) == ["m-2", "m-3"]
        assert sorted(r.id for r in tx.unrevoked_representations(acme.id, AGENT)) == ["m-3", "m-4"]
        assert [r.id for r in tx.current_representations([acme.id], Source.REGISTRY, NOW)] == ["m-1"]


def test_revoking_a_tree_revokes_every_delegation_below_once(store: LegalEntitiesStore) -> None:
    acme = entity()
    root = rep("m-1", acme)
    child = rep("m-2", acme, CLERK, source=Source.DELEGATION, parent=root, granted_by=CEO)
    grandchild = rep("m-3", acme, AGENT, source=Source.DELEGATION, parent=child, granted_by=CLERK)
    other = rep("m-4", acme, AGENT, role="agent")
    stored(store, acme, reps=(root, child, grandchild, other))
    with store.transaction() as tx:
        ended = tx.revoke_trees(["m-1", "m-1"], now=NOW + DAY, actor="cli", reason="test")
    assert [(e.id, e.root) for e in ended] == [("m-1", "m-1"), ("m-2", "m-1"), ("m-3", "m-1")]
    assert (ended[1].entity_id, ended[1].national_code, ended[1].role, ended[1].source) == (
        acme.id, CLERK, "ceo", "delegation")
    revoked = {r.id: r.revoked_at for r in store.representations(acme.id, include_ended=True, now=NOW)}
    assert revoked == {"m-1": NOW + DAY, "m-2": NOW + DAY, "m-3": NOW + DAY, "m-4": None}
    with store.transaction() as tx:
        assert tx.revoke_trees(["m-1", "m-2"], now=NOW + 2 * DAY, actor="cli", reason="again") == []
    assert store.mandate("m-1").representation.revoked_at == NOW + DAY  # type: ignore[union-attr]


def test_a_delegation_moves_to_a_new_parent(store: LegalEntitiesStore) -> None:
    acme = entity()
    old, new = rep("m-1", acme), rep("m-9", acme, created=NOW + DAY)
    child = rep("m-2", acme, CLERK, source=Source.DELEGATION, parent=old, granted_by=CEO)
    stored(store, acme, reps=(old, new, child))
    with store.transaction() as tx:
        tx.set_parents({"m-2": "m-9"})
        tx.set_parents({})
        assert [e.id for e in tx.revoke_trees(["m-1"], now=NOW, actor="cli", reason="renewed")] == ["m-1"]
    assert store.mandate("m-2").representation.parent_id == "m-9"  # type: ignore[union-attr]
    assert store.mandate("m-2").representation.revoked_at is None  # type: ignore[union-attr]
