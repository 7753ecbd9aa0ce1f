"""Everything the endpoints use, built once from settings (no import-time singletons)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import Engine

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.access_tokens import AccessTokenReader
from idp.audit import AuditLog
from idp.authorization_server import IdpAuthorizationServer
from idp.csrf import CsrfTokens
from idp.database import make_engine
from idp.login_transactions import LoginTransactions
from idp.pages import Pages
from idp.refresh_tokens import SqlRefreshTokenStore
from idp.sessions import SessionManager
from idp.settings import Settings
from idp.store import MemoryStore, Store
from idp.tokens import TokenIssuer, TokenLifetimes
from keys.encryption import KeyEncryptor, kek_from_text, load_or_create_kek
from keys.keyring import KeyRing
from keys.store_sql import SqlKeyStore
from levels.authenticators.password import Passwords
from levels.people import SqlPersonStore
from levels.throttle import LoginThrottle


def make_store(settings: Settings) -> Store:
    if settings.redis_url:
        from idp.store_redis import RedisStore

        return RedisStore(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryStore()


def load_kek(settings: Settings) -> bytes:
    return kek_from_text(settings.kek) if settings.kek else load_or_create_kek(settings.kek_file)


def make_keyring(settings: Settings, engine: Engine, kek: bytes | None = None) -> KeyRing:
    return KeyRing(
        SqlKeyStore(engine), KeyEncryptor(kek or load_kek(settings)), reload_interval=settings.key_reload_interval
    )


def _derive(kek: bytes, label: bytes) -> bytes:
    """A purpose-specific key from the key-encryption key, so every worker derives the same one."""
    return hmac.new(kek, label, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: Engine
    store: Store
    keyring: KeyRing
    clients: ClientRegistry
    people: SqlPersonStore
    passwords: Passwords
    throttle: LoginThrottle
    sessions: SessionManager
    transactions: LoginTransactions
    issuer: TokenIssuer
    access_tokens: AccessTokenReader
    refresh_tokens: SqlRefreshTokenStore
    audit: AuditLog
    server: IdpAuthorizationServer
    pages: Pages

    @classmethod
    def build(cls, settings: Settings, *, store: Store | None = None, engine: Engine | None = None) -> Services:
        engine = engine or make_engine(settings.database_url)
        store = store or make_store(settings)
        kek = load_kek(settings)
        keyring = make_keyring(settings, engine, kek)
        keyring.ensure()
        audit = AuditLog(engine)
        clients = ClientRegistry(SqlClientStore(engine), cache_ttl=settings.client_cache_ttl,
                                 audit=audit.sink("api"))
        people = SqlPersonStore(engine)
        refresh_tokens = SqlRefreshTokenStore(engine)
        issuer = TokenIssuer(
            issuer=settings.issuer, keyring=keyring, refresh_tokens=refresh_tokens, store=store,
            lifetimes=TokenLifetimes(settings.access_token_ttl, settings.id_token_ttl, settings.refresh_token_ttl),
            default_alg=settings.signing_alg,
        )
        access_tokens = AccessTokenReader(keyring, issuer)
        server = IdpAuthorizationServer(
            clients=clients, issuer=issuer, store=store, people=people, refresh_tokens=refresh_tokens,
            access_tokens=access_tokens, audit=audit, code_ttl=settings.code_ttl,
            token_endpoint=settings.endpoint("/token"),
            client_throttle=LoginThrottle(
                store, per_account=settings.client_auth_failures_per_client,
                per_ip=settings.client_auth_failures_per_ip, window=settings.login_attempt_window,
                namespace="client-auth",
            ),
        )
        return cls(
            settings=settings, engine=engine, store=store, keyring=keyring, clients=clients, people=people,
            passwords=Passwords(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost),
            throttle=LoginThrottle(store, per_account=settings.login_attempts_per_account,
                                   per_ip=settings.login_attempts_per_ip, window=settings.login_attempt_window,
                                   secret=_derive(kek, b"idp throttle v1")),
            sessions=SessionManager(store, ttl=settings.session_ttl),
            transactions=LoginTransactions(store, settings.login_transaction_ttl),
            issuer=issuer, access_tokens=access_tokens, refresh_tokens=refresh_tokens, audit=audit,
            server=server,
            pages=Pages(csrf=CsrfTokens(_derive(kek, b"idp csrf v1")), default_locale=settings.default_locale,
                        secure_cookies=settings.secure_cookies),
        )
