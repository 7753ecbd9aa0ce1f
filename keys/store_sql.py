"""Durable storage of signing keys (private halves encrypted by `keys.encryption`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Index, LargeBinary, String, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from keys.errors import KeyStoreConflict, KeyStoreUnavailable, UnknownKey
from keys.models import KeyState, SigningKey, check_alg
from keys.rotation import Transition
from keys.store import StoredKey

_SINGLETON_WHERE = "state IN ('active', 'next')"


class Base(DeclarativeBase):
    pass


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"
    __table_args__ = (
        # At most one active and one next key per algorithm, enforced by the database so that
        # two processes bootstrapping or rotating at the same time cannot both succeed.
        Index(
            "uq_signing_keys_alg_state_singleton",
            "alg",
            "state",
            unique=True,
            sqlite_where=text(_SINGLETON_WHERE),
            postgresql_where=text(_SINGLETON_WHERE),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SqlKeyStore:
    """KeyStore on SQLAlchemy (SQLite or PostgreSQL, same code).

    Transitions are conditional updates (`WHERE state = from_state`), so a writer that planned
    from stale data changes nothing and gets KeyStoreConflict instead.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list_keys(self, *, include_removed: bool = False) -> list[StoredKey]:
        query = select(SigningKeyRow).order_by(SigningKeyRow.created_at, SigningKeyRow.kid)
        if not include_removed:
            query = query.where(SigningKeyRow.state != KeyState.REMOVED.value)
        with self._session() as session:
            return [_to_stored(row) for row in session.scalars(query)]

    def add(self, stored: StoredKey) -> None:
        self.apply((), (stored,), stored.key.created_at)

    def set_state(self, kid: str, state: KeyState, at: datetime, *, expected: KeyState | None = None) -> None:
        with self._session() as session:
            if session.get(SigningKeyRow, kid) is None:
                raise UnknownKey(kid)
            _transition(session, kid, state, at, expected)

    def apply(self, transitions: Sequence[Transition], new_keys: Sequence[StoredKey], at: datetime) -> None:
        with self._session() as session:
            for t in transitions:
                _transition(session, t.kid, t.to_state, at, t.from_state)
            for new in new_keys:
                session.add(_to_row(new))
                session.flush()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise KeyStoreConflict(f"another writer changed the signing keys: {exc.orig}") from None
        except DBAPIError as exc:
            raise KeyStoreUnavailable(str(exc.orig)) from None


def _transition(session: Session, kid: str, state: KeyState, at: datetime, expected: KeyState | None) -> None:
    values: dict[str, object] = {"state": state.value}
    if state is KeyState.ACTIVE:
        values["activated_at"] = _utc(at)
    elif state is KeyState.RETIRED:
        values["retired_at"] = _utc(at)
    elif state is KeyState.REMOVED:
        # A removed key can never be used again, so its private half is erased.
        values["private_key"] = b""
    query = update(SigningKeyRow).where(SigningKeyRow.kid == kid).values(values)
    if expected is not None:
        query = query.where(SigningKeyRow.state == expected.value)
    if session.execute(query).rowcount != 1:  # type: ignore[attr-defined]
        raise KeyStoreConflict(f"key {kid} is no longer {expected}")
    session.flush()


def _to_row(stored: StoredKey) -> SigningKeyRow:
    key = stored.key
    return SigningKeyRow(
        kid=key.kid,
        alg=key.alg,
        state=key.state.value,
        private_key=stored.encrypted_private_key,
        public_jwk=dict(key.public_jwk),
        created_at=_utc(key.created_at),
        activated_at=_utc(key.activated_at) if key.activated_at else None,
        retired_at=_utc(key.retired_at) if key.retired_at else None,
    )


def _to_stored(row: SigningKeyRow) -> StoredKey:
    key = SigningKey(
        kid=row.kid,
        alg=check_alg(row.alg),
        state=KeyState(row.state),
        public_jwk=dict(row.public_jwk),
        created_at=_aware(row.created_at),
        activated_at=_aware(row.activated_at) if row.activated_at else None,
        retired_at=_aware(row.retired_at) if row.retired_at else None,
    )
    return StoredKey(key, bytes(row.private_key))


def _aware(value: datetime) -> datetime:
    # SQLite has no time zone type and hands back naive datetimes; we only ever store UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("signing key timestamps must be timezone-aware")
    return value.astimezone(UTC)
