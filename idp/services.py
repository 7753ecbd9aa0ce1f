"""Everything the endpoints use, built once from settings (no import-time singletons)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine

from clients.exchange import ExchangePermissions, SqlExchangeStore
from clients.registry import ClientRegistry
from clients.sector import HttpSectorFetcher
from clients.services import CachedServiceStore, ServiceStore, SqlServiceStore
from clients.store_sql import SqlClientStore
from clients.subjects import Subjects
from idp import metrics
from idp.audit import AuditLog
from idp.built_in_clients import built_in_clients
from idp.oauth.access_tokens import AccessTokenReader
from idp.oauth.codes import CodeRecords
from idp.oauth.dpop import DpopVerifier
from idp.oauth.grant_revocation import Grants
from idp.oauth.grants.token_exchange import ExchangeGrantDeps
from idp.oauth.one_time_ids import SqlUsedAssertions, UsedAssertions
from idp.oauth.person_refs import PersonRefs
from idp.oauth.pushed import PushedRequests
from idp.oauth.refresh_tokens import RefreshTokenStore, SqlRefreshTokenStore
from idp.oauth.request_object import RequestObjects
from idp.oauth.revocations import AccessTokenRevocations, SqlAccessTokenRevocations
from idp.oauth.server import IdpAuthorizationServer
from idp.oauth.tokens import TokenIssuer, TokenLifetimes
from idp.sessions.consents import ConsentStore, SqlConsentStore
from idp.sessions.delivery import LogoutDeliverer, make_backchannel
from idp.sessions.logout import SingleLogout
from idp.sessions.outbox import LogoutOutbox
from idp.sessions.register import SqlSessionRegister
from idp.sessions.sso import SessionManager
from idp.sessions.transactions import LoginTransactions
from idp.settings import Settings
from idp.signin.acting import EntityAccess
from idp.signin.factors import FactorDeps, FactorPage, Factors, make_factors
from idp.storage.database import make_engine
from idp.storage.keys import CLIENT_AUTH_THROTTLE_NS
from idp.storage.store import MemoryStore, Store
from idp.web.cookies import Cookies
from idp.web.csrf import CsrfTokens
from idp.web.device_cookie import DeviceCookies
from idp.web.pages import Brand, Pages
from keys.encryption import KeyEncryptor, kek_from_text, load_or_create_kek
from keys.keyring import KeyRing
from keys.store_sql import SqlKeyStore
from legal_entities.service import LegalEntities
from legal_entities.store_sql import SqlLegalEntitiesStore
from levels.activation import Activations
from levels.activation_sql import SqlActivationStore
from levels.authenticators.base import Authenticator, Authenticators
from levels.authenticators.passkey import Passkeys
from levels.authenticators.passkey_sql import SqlPasskeyStore
from levels.authenticators.password import Passwords
from levels.authenticators.sms_otp import SmsOtp
from levels.authenticators.totp import Totp
from levels.credentials_sql import CredentialStore, SqlCredentialStore
from levels.level import Level
from levels.offices import Offices
from levels.offices_sql import SqlOfficeStore
from levels.people import PersonStore, SqlPersonStore
from levels.policy import LevelRule, Policy
from levels.proofing import ProofingRecordStore, ProofingService, SimulatedRegistry
from levels.proofing_sql import SqlProofingStore
from levels.sms import HttpSmsGateway, OutboxGateway, SmsGateway
from levels.throttle import LoginThrottle


def make_database(settings: Settings, *, statement_timeout: bool = True) -> Engine:
    """The durable store's engine as the settings describe it. `statement_timeout=False` for command-line
    work, which an operator watches and whose bulk statements (an import) may rightly run long."""
    return make_engine(
        settings.database_url, timeout=settings.database_timeout,
        breaker_interval=settings.database_breaker_interval, pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow, pool_timeout=settings.database_pool_timeout,
        statement_timeout=settings.database_statement_timeout if statement_timeout else 0,
        transaction_pooling=settings.database_transaction_pooling,
    )


def make_store(settings: Settings) -> Store:
    if settings.redis_url:
        from idp.storage.redis import RedisStore

        return RedisStore(settings.redis_url, prefix=settings.redis_prefix, timeout=settings.redis_timeout,
                          breaker_interval=settings.redis_breaker_interval)
    return MemoryStore()


def load_kek(settings: Settings) -> bytes:
    return kek_from_text(settings.kek) if settings.kek else load_or_create_kek(settings.kek_file)


def make_keyring(settings: Settings, engine: Engine, kek: bytes | None = None) -> KeyRing:
    return KeyRing(
        SqlKeyStore(engine), KeyEncryptor(kek or load_kek(settings)), reload_interval=settings.key_reload_interval
    )


def make_proofing(
    settings: Settings, engine: Engine, audit: Callable[[str, Mapping[str, object]], None]
) -> ProofingService:
    # The simulated registry (a data file) stands in for the civil registry and mobile operators
    # until their adapters exist; both protocols are in levels.proofing.
    registry = SimulatedRegistry(settings.registry_file) if settings.registry_file else SimulatedRegistry()
    return ProofingService(SqlPersonStore(engine), SqlProofingStore(engine), registry, registry, audit)


def make_policy(settings: Settings, authenticators: Authenticators | None = None) -> Policy:
    """The level rules from settings; the factors' kinds and amr values from the registry."""
    rows = (
        (Level.LOW, settings.acr_level1, 1, settings.max_age_level1),
        (Level.SUBSTANTIAL, settings.acr_level2, 2, settings.max_age_level2),
        (Level.HIGH, settings.acr_level3, 3, settings.max_age_level3),
    )
    rules = {lvl: LevelRule(lvl, acr, tier, timedelta(seconds=age)) for lvl, acr, tier, age in rows}
    if authenticators is None:
        return Policy(rules)
    return Policy(rules, kinds=authenticators.kinds, amr=authenticators.amr)


def make_offices(settings: Settings, engine: Engine, audit: Callable[[str, Mapping[str, object]], None]) -> Offices:
    return Offices(SqlOfficeStore(engine), audit, daily_limit=settings.office_daily_limit)


def make_sms_gateway(settings: Settings) -> SmsGateway:
    if settings.sms_gateway_url:
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)
    return OutboxGateway(settings.sms_outbox)


def make_login_throttle(settings: Settings, store: Store, secret: bytes) -> LoginThrottle:
    return LoginThrottle(
        store, per_ip=settings.login_failures_per_ip, per_account_ip=settings.login_failures_per_account_ip,
        per_device=settings.login_failures_per_device, per_account=settings.login_failures_per_account,
        delay_after=settings.login_failures_before_delay, first_delay=settings.login_first_delay,
        window=settings.login_failure_window, secret=secret, on_refused=metrics.rate_limited,
    )


def make_client_throttle(settings: Settings, store: Store, secret: bytes) -> LoginThrottle:
    # No per-client limit: it would let anyone stop a portal by sending wrong secrets in its name.
    return LoginThrottle(
        store, per_ip=settings.client_auth_failures_per_ip, per_account_ip=settings.client_auth_failures_per_client_ip,
        window=settings.client_auth_failure_window, secret=secret, namespace=CLIENT_AUTH_THROTTLE_NS,
        on_refused=metrics.rate_limited,
    )


def make_subjects(settings: Settings, kek: bytes) -> Subjects:
    salt = settings.pairwise_salt.encode() if settings.pairwise_salt else _derive(kek, b"idp pairwise subjects v1")
    return Subjects(salt)


def _origin(issuer: str) -> str:
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


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
    people: PersonStore
    passwords: Passwords
    throttle: LoginThrottle
    device_cookies: DeviceCookies
    sessions: SessionManager
    transactions: LoginTransactions
    issuer: TokenIssuer
    access_tokens: AccessTokenReader
    refresh_tokens: RefreshTokenStore
    grants: Grants
    audit: AuditLog
    server: IdpAuthorizationServer
    pages: Pages
    policy: Policy
    services: ServiceStore
    sms_otp: SmsOtp
    totp: Totp
    credentials: CredentialStore
    passkeys: Passkeys
    factors: Factors  # the authenticators by method, with their page glue (idp.signin.factors)
    recovery_key: bytes
    proofing: ProofingService
    proofing_records: ProofingRecordStore
    acting: EntityAccess
    consents: ConsentStore
    logout: SingleLogout
    outbox: LogoutOutbox
    deliverer: LogoutDeliverer
    # Durable records of what must survive the loss of the store (docs/design.md).
    revocations: AccessTokenRevocations
    used_assertions: UsedAssertions
    subjects: Subjects  # the `sub` each client sees (public or pairwise)
    dpop: DpopVerifier  # DPoP proofs and nonces (RFC 9449)
    exchanges: ExchangePermissions  # which client may exchange tokens to call which (RFC 8693)
    pushed: PushedRequests  # RFC 9126 pushed authorization requests
    request_objects: RequestObjects  # RFC 9101 request objects, verified
    offices: Offices  # counter offices and their operators (levels.offices)
    activations: Activations  # activation codes for accounts made for a person (levels.activation)
    # Authorization codes: the grant redeems them; the console (a built-in client) redeems its own.
    codes: CodeRecords

    def prune_expired(self) -> None:
        """Forget revocations, assertion ids and refresh tokens that no longer protect anything (all expired)."""
        self.revocations.prune()
        self.used_assertions.prune()
        self.refresh_tokens.prune()

    @property
    def cookies(self) -> Cookies:
        """Every cookie's name and attributes (`__Host-` on https): read, set and delete through it."""
        return self.pages.cookies

    @classmethod
    def build(
        cls, settings: Settings, *, store: Store | None = None, engine: Engine | None = None,
        extra_factors: Iterable[tuple[Authenticator, FactorPage]] = (),
    ) -> Services:
        """`extra_factors`: authenticators (with their page glue) beyond the built-in ones."""
        engine = engine or make_database(settings)
        store = store or make_store(settings)
        kek = load_kek(settings)
        keyring = make_keyring(settings, engine, kek)
        keyring.ensure()
        audit = AuditLog(engine)
        clients = ClientRegistry(SqlClientStore(engine), cache_ttl=settings.client_cache_ttl,
                                 audit=audit.sink("api"), sector_fetch=HttpSectorFetcher(),
                                 built_in=built_in_clients(settings))
        subjects = make_subjects(settings, kek)
        people = SqlPersonStore(engine)
        refresh_tokens = SqlRefreshTokenStore(engine)
        # A revoked token id is kept as long as an access token lives; a session's sid also as long
        # as a code issued just before the session ended can still be exchanged for tokens.
        revocations = SqlAccessTokenRevocations(
            engine, store, token_horizon=settings.access_token_ttl + 60,
            session_horizon=settings.access_token_ttl + settings.code_ttl + 60)
        used_assertions = SqlUsedAssertions(engine)
        grants = Grants(refresh_tokens, revocations, audit)
        issuer = TokenIssuer(
            issuer=settings.issuer, keyring=keyring, refresh_tokens=refresh_tokens, revocations=revocations,
            lifetimes=TokenLifetimes(settings.access_token_ttl, settings.id_token_ttl, settings.refresh_token_ttl),
            default_alg=settings.signing_alg, subjects=subjects,
            person_refs=PersonRefs(_derive(kek, b"idp person references v1")),
        )
        service_store = CachedServiceStore(SqlServiceStore(engine), settings.client_cache_ttl)
        acting = EntityAccess(
            LegalEntities(SqlLegalEntitiesStore(engine), audit.sink("web")),
            lambda client_id: frozenset(s.scope for s in service_store.services_for(client_id)),
            store, choice_ttl=settings.login_transaction_ttl,
        )
        access_tokens = AccessTokenReader(keyring, issuer, acting.token_claim_holds)
        proofing_records = SqlProofingStore(engine)
        dpop = DpopVerifier(
            store, nonce_key=_derive(kek, b"idp dpop nonces v1"), max_age=settings.dpop_proof_max_age,
            require_nonce=settings.dpop_require_nonce, nonce_lifetime=settings.dpop_nonce_lifetime)
        exchange_store = SqlExchangeStore(engine)
        token_exchange = ExchangeGrantDeps(
            issuer=issuer, access_tokens=access_tokens, permissions=exchange_store, services=service_store,
            clients=clients, people=people, audit=audit,
            # Only the acr → level map is read, which the factors do not change.
            level_of_acr=make_policy(settings).level_for_acr, max_depth=settings.token_exchange_max_depth)
        codes = CodeRecords(store, ttl=settings.code_ttl, remember_used=issuer.lifetimes.refresh)
        server = IdpAuthorizationServer(
            clients=clients, issuer=issuer, codes=codes, people=people, refresh_tokens=refresh_tokens,
            grants=grants, access_tokens=access_tokens, audit=audit,
            token_endpoint=settings.endpoint("/token"),
            client_throttle=make_client_throttle(settings, store, _derive(kek, b"idp client throttle v1")),
            proofing_records=proofing_records, entity_access=acting,
            used_assertions=used_assertions, assertion_max_lifetime=settings.client_assertion_max_lifetime,
            dpop=dpop,
            token_exchange=token_exchange,
            fapi2_code_ttl=settings.fapi2_code_ttl,
        )
        outbox, deliverer = make_backchannel(settings, engine, keyring, clients, audit, subjects)
        register = SqlSessionRegister(engine)
        logout = SingleLogout(store=store, register=register, grants=grants, issuer=issuer,
                              outbox=outbox, clients=clients, audit=audit)
        totp_cipher = KeyEncryptor(_derive(kek, b"idp totp secrets v1"))
        host = urlsplit(settings.issuer).hostname or "localhost"
        cookies = Cookies(secure=settings.secure_cookies, session_name=settings.cookie_name)
        passwords = Passwords(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost)
        sms_otp = SmsOtp(store, make_sms_gateway(settings), secret=_derive(kek, b"idp sms otp v1"),
                         resend_after=settings.sms_resend_interval, max_sends=settings.sms_max_per_window,
                         send_window=settings.sms_window, on_refused=metrics.rate_limited)
        credentials = SqlCredentialStore(engine, totp_cipher.encrypt, totp_cipher.decrypt)
        passkeys = Passkeys(store, SqlPasskeyStore(engine), rp_id=host, rp_name="National sign-in",
                            origin=_origin(settings.issuer))
        recovery_key = _derive(kek, b"idp recovery codes v1")
        totp = Totp()
        factors = make_factors(FactorDeps(
            settings=settings, store=store, people=people, passwords=passwords, sms_otp=sms_otp, totp=totp,
            credentials=credentials, recovery_key=recovery_key, passkeys=passkeys,
        ), extra_factors)
        return cls(
            policy=make_policy(settings, factors.authenticators),
            services=service_store, acting=acting, consents=SqlConsentStore(engine),
            sms_otp=sms_otp, totp=totp, credentials=credentials, passkeys=passkeys,
            factors=factors, recovery_key=recovery_key,
            proofing=make_proofing(settings, engine, audit.sink("web")),
            proofing_records=proofing_records,
            settings=settings, engine=engine, store=store, keyring=keyring, clients=clients, people=people,
            passwords=passwords,
            throttle=make_login_throttle(settings, store, _derive(kek, b"idp throttle v1")),
            device_cookies=DeviceCookies(
                _derive(kek, b"idp device cookies v1"), ttl=settings.device_cookie_ttl,
                # Strict: only the provider's own sign-in forms, posted from its own pages, need it.
                cookie=cookies.cookie(settings.device_cookie_name, samesite="strict",
                                      max_age=settings.device_cookie_ttl)),
            sessions=SessionManager(store, register, ttl=settings.session_ttl,
                                    idle_timeout=settings.session_idle_timeout,
                                    touch_interval=settings.session_touch_interval,
                                    check_register=isinstance(store, MemoryStore),
                                    on_lost=lambda sid: logout.end(sid, reason="store_lost", actor="system")),
            logout=logout, outbox=outbox, deliverer=deliverer, revocations=revocations,
            used_assertions=used_assertions, subjects=subjects, dpop=dpop,
            exchanges=ExchangePermissions(clients, exchange_store, service_store, audit=audit.sink("api")),
            pushed=PushedRequests(store, settings.par_ttl),
            offices=make_offices(settings, engine, audit.sink("web")),
            activations=Activations(SqlActivationStore(engine), _derive(kek, b"idp activation codes v1"),
                                    ttl=settings.activation_code_ttl,
                                    max_attempts=settings.activation_max_attempts),
            request_objects=RequestObjects(settings.issuer, max_lifetime=settings.request_object_max_lifetime),
            transactions=LoginTransactions(store, settings.login_transaction_ttl),
            issuer=issuer, access_tokens=access_tokens, refresh_tokens=refresh_tokens, grants=grants, audit=audit,
            server=server, codes=codes,
            pages=Pages(csrf=CsrfTokens(_derive(kek, b"idp csrf v1")), default_locale=settings.default_locale,
                        cookies=cookies,
                        brand=Brand(logo_url=settings.brand_logo_url, help_url=settings.help_url,
                                    privacy_url=settings.privacy_url, contact_url=settings.contact_url)),
        )
