"""Durable storage of registered clients (SQLite or PostgreSQL through SQLAlchemy)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    RowMapping,
    String,
    delete,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clients.models import Client, plain_fields
from clients.registry import utcnow
from clients.store import ClientExists, UnknownClient


class Base(DeclarativeBase):
    pass


class ClientRow(Base):
    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name people read, in each language; `name` when a language has none.
    name_fa: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    logo_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    client_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    policy_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    tos_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    contacts: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    audiences: Mapped[list[str]] = mapped_column(JSON)
    jwks: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=True)
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=True)
    require_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    min_level: Mapped[int] = mapped_column(Integer)
    subject_type: Mapped[str] = mapped_column(String(16), default="public", server_default="public")
    sector_identifier_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false())
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    profile: Mapped[str | None] = mapped_column(String(16), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClientServiceRow(Base):
    """A service of a client: a scope and the level and authentication age it needs."""

    __tablename__ = "client_services"

    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    min_level: Mapped[int] = mapped_column(Integer)
    max_auth_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A security profile a client must be held to for this service (`clients.models.PROFILES`).
    profile: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name_fa: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name_en: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExchangePermissionRow(Base):
    """Client `client_id` may exchange a person's token for one to call client `audience` for
    `scope`, one of the audience's services (`clients.exchange`); it goes with either client or with
    the service."""

    __tablename__ = "exchange_permissions"
    __table_args__ = (
        ForeignKeyConstraint(["audience", "scope"], ["client_services.client_id", "client_services.scope"],
                             ondelete="CASCADE"),
    )

    client_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    audience: Mapped[str] = mapped_column(String(128), primary_key=True)
    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


_TABLE = ClientRow.__table__


class SqlClientStore:
    """A `ClientStore` on the `clients` table. Validates nothing: `ClientRegistry` does that."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, client_id: str) -> Client | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.client_id == client_id)).mappings().first()
        return _to_client(row) if row is not None else None

    def list(self) -> list[Client]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_TABLE).order_by(_TABLE.c.client_id)).mappings().all()
        return [_to_client(row) for row in rows]

    def add(self, client: Client) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(_TABLE).values(**_to_row(client)))
        except IntegrityError:
            raise ClientExists(client.client_id) from None

    def save(self, client: Client) -> None:
        values = _to_row(client)
        del values["client_id"], values["created_at"]
        with self._engine.begin() as conn:
            result = conn.execute(
                update(_TABLE).where(_TABLE.c.client_id == client.client_id).values(**values)
            )
        if result.rowcount == 0:
            raise UnknownClient(client.client_id)

    def delete(self, client_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.client_id == client_id))
        return result.rowcount > 0


def _to_row(client: Client) -> dict[str, object]:
    now = utcnow()
    return {
        **plain_fields(client),
        "secret_hash": client.secret_hash,
        "previous_secret_hash": client.previous_secret_hash,
        "previous_secret_expires_at": client.previous_secret_expires_at,
        "created_at": client.created_at or now,
        "updated_at": client.updated_at or now,
    }


def _to_client(r: RowMapping) -> Client:
    return Client(
        client_id=r["client_id"],
        name=r["name"],
        token_endpoint_auth_method=r["token_endpoint_auth_method"],
        redirect_uris=tuple(r["redirect_uris"] or ()),
        post_logout_redirect_uris=tuple(r["post_logout_redirect_uris"] or ()),
        grant_types=tuple(r["grant_types"] or ()),
        scopes=tuple(r["scopes"] or ()),
        audiences=tuple(r["audiences"] or ()),
        jwks=r["jwks"],
        id_token_signed_response_alg=r["id_token_signed_response_alg"],
        backchannel_logout_uri=r["backchannel_logout_uri"],
        backchannel_logout_session_required=bool(r["backchannel_logout_session_required"]),
        frontchannel_logout_uri=r["frontchannel_logout_uri"],
        frontchannel_logout_session_required=bool(r["frontchannel_logout_session_required"]),
        require_consent=bool(r["require_consent"]),
        min_level=r["min_level"],
        subject_type=r["subject_type"],
        sector_identifier_uri=r["sector_identifier_uri"],
        require_pushed_authorization_requests=bool(r["require_pushed_authorization_requests"]),
        dpop_bound_access_tokens=bool(r["dpop_bound_access_tokens"]),
        profile=r["profile"],
        name_fa=r["name_fa"],
        name_en=r["name_en"],
        logo_uri=r["logo_uri"],
        client_uri=r["client_uri"],
        policy_uri=r["policy_uri"],
        tos_uri=r["tos_uri"],
        contacts=tuple(r["contacts"] or ()),
        enabled=bool(r["enabled"]),
        secret_hash=r["secret_hash"],
        previous_secret_hash=r["previous_secret_hash"],
        previous_secret_expires_at=_aware(r["previous_secret_expires_at"]),
        created_at=_aware(r["created_at"]),
        updated_at=_aware(r["updated_at"]),
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
