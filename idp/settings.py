"""All configuration, read once from `IDP_*` environment variables.

This is the only module that looks at the environment; everything else receives plain values.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from levels.authenticators.sms_otp import CODE_TTL

_RETIRED = {
    "IDP_TRUST_FORWARDED_FOR": "X-Forwarded-For is read only from trusted proxies; list your load balancers'"
                               " addresses or networks in IDP_TRUSTED_PROXIES instead.",
    "IDP_LOGIN_ATTEMPTS_PER_ACCOUNT": "see IDP_LOGIN_FAILURES_PER_ACCOUNT_IP, IDP_LOGIN_FAILURES_PER_DEVICE and"
                                      " IDP_LOGIN_FAILURES_PER_ACCOUNT (README, Settings).",
    "IDP_LOGIN_ATTEMPTS_PER_IP": "it is now IDP_LOGIN_FAILURES_PER_IP.",
    "IDP_LOGIN_ATTEMPT_WINDOW": "it is now IDP_LOGIN_FAILURE_WINDOW.",
    "IDP_CLIENT_AUTH_FAILURES_PER_CLIENT": "it is now IDP_CLIENT_AUTH_FAILURES_PER_CLIENT_IP.",
}


def _is_local_path(value: str) -> bool:
    """A path on this server ("/x"), not a protocol-relative URL ("//host/x") to another one."""
    return value.startswith("/") and not value.startswith(("//", "/\\"))


class RetiredSetting(Exception):
    """A setting that is no longer read is set."""


class UnsafeSetting(Exception):
    """Settings that together would weaken what the provider promises (not a ValidationError, whose
    message would repeat every input, secrets included)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDP_", frozen=True, extra="ignore")

    issuer: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///var/idp.db"
    redis_url: str | None = None
    redis_prefix: str = "idp:"
    # Key-encryption key: either given directly (base64url, 32 bytes) or kept in a 0600 file.
    kek: str | None = Field(default=None, repr=False)
    kek_file: Path = Path("var/kek")
    signing_alg: Literal["ES256", "RS256"] = "ES256"

    code_ttl: int = 60
    access_token_ttl: int = 300
    id_token_ttl: int = 300
    refresh_token_ttl: int = 30 * 24 * 3600
    # SSO sessions end after session_ttl at the latest (absolute) and after session_idle_timeout
    # without use; last-seen times are written at most every session_touch_interval.
    session_ttl: int = 12 * 3600
    session_idle_timeout: int = 3600
    session_touch_interval: int = 60
    session_sweep_interval: float = 30.0
    # Run the periodic work (logout delivery, session expiry) inside each server process.
    background_tasks: bool = True
    login_transaction_ttl: int = 30 * 60
    # Seconds each process keeps a client's record and its services (clients.registry, clients.services);
    # a change made by another process (the CLI) applies within this time.
    client_cache_ttl: float = 5.0
    key_reload_interval: float = 30.0

    # Client addresses and rate limits (idp.web.client_address, levels.throttle). Failures are counted
    # in windows of login_failure_window seconds: per client address; per account from one address
    # (from the login_failures_before_delay-th on, each failure makes the next attempt wait
    # login_first_delay seconds, doubling); per browser that signed in to the account before
    # (device cookie); and per account from browsers it does not know, the cap on guessing spread
    # over many addresses, which never refuses a known browser.
    login_failures_per_ip: int = Field(default=50, gt=0)
    login_failures_per_account_ip: int = Field(default=10, gt=0)
    login_failures_per_device: int = Field(default=10, gt=0)
    login_failures_per_account: int = Field(default=20, gt=0)
    login_failures_before_delay: int = Field(default=3, gt=0)
    login_first_delay: float = Field(default=5.0, gt=0)
    login_failure_window: int = Field(default=15 * 60, gt=0)
    # Failed client authentications (token, introspection, revocation) per client+address and per
    # address; never per client alone, so a flood from elsewhere cannot stop the client's own calls.
    client_auth_failures_per_client_ip: int = Field(default=20, gt=0)
    client_auth_failures_per_ip: int = Field(default=200, gt=0)
    client_auth_failure_window: int = Field(default=15 * 60, gt=0)
    # Load balancers and reverse proxies in front of the provider (comma-separated addresses or
    # CIDRs): only when one of them is the TCP peer is X-Forwarded-For read, from the right.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    # The device cookie recognising a browser that signed in to an account before; it lasts
    # device_cookie_ttl seconds after the browser's latest sign-in.
    device_cookie_name: str = "idp_device"
    device_cookie_ttl: int = Field(default=180 * 24 * 3600, gt=0)

    # Assurance levels (see DESIGN.md): acr value and how long its factors count, per level.
    acr_level1: str = "urn:idp:loa:1"
    acr_level2: str = "urn:idp:loa:2"
    acr_level3: str = "urn:idp:loa:3"
    max_age_level1: int = 12 * 3600
    max_age_level2: int = 3600
    max_age_level3: int = 15 * 60

    # Civil registry and mobile-operator checks for proofing tier P2. Only the simulated registry
    # (a data file of fictional people) exists so far; point registry_file at your own test data.
    registry: Literal["simulated"] = "simulated"
    registry_file: Path | None = None

    # The command line's `--server URL` (`idp.cli.remote`): the operator client it calls the admin
    # API as, and the file with that client's private key (a private JWK, or PEM) for private_key_jwt.
    admin_client_id: str | None = None
    admin_key_file: Path | None = None

    # SMS: by default every message is appended to a local outbox file (development, tests).
    sms_outbox: Path = Path("var/sms-outbox.jsonl")
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = Field(default=None, repr=False)

    # Counter offices (levels.offices): the level an operator must have signed in at to use /office,
    # and how many actions (look-ups, verifications, registrations) one operator may take per day.
    office_level: int = Field(default=3, ge=1, le=3)
    office_daily_limit: int = Field(default=200, gt=0)
    # Activation codes (levels.activation) for accounts made for a person, at an office or by an
    # operator: how long a code stays usable (seconds; a week by default, for a person who does not
    # read their messages every day) and how many wrong codes kill it (a new code replaces it).
    activation_code_ttl: int = Field(default=7 * 24 * 3600, gt=0, le=90 * 24 * 3600)
    activation_max_attempts: int = Field(default=5, gt=0, le=10)
    # SMS codes per person and purpose (levels.authenticators.sms_otp): a new code at most every
    # sms_resend_interval seconds unless the last one was used, at most sms_max_per_window codes
    # per sms_window seconds. The interval is at most a code's lifetime, so a sign-in within it
    # always has the previous code to use.
    sms_resend_interval: int = Field(default=60, ge=0, le=CODE_TTL)
    sms_max_per_window: int = Field(default=5, gt=0)
    sms_window: int = Field(default=900, gt=0)

    # Operations (docs/operations.md). /metrics answers scrapers on this machine (the client address as
    # trusted_proxies decide it) and any that send "Authorization: Bearer <metrics_token>"; others get 404.
    # Logs go to stderr, one JSON object per line (json) or a short line for a terminal (text); `idp
    # demo` writes text unless IDP_LOG_FORMAT is set. access_log: one line per request (idp.web.logs);
    # off by default, as uvicorn's was under `idp serve`: a line costs more CPU than the rest of the
    # request's bookkeeping together (docs/operations.md, "Logs"), and the load balancer logs requests
    # too. `idp demo` turns it on.
    metrics_token: str | None = Field(default=None, repr=False)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = False

    # Threads per worker for synchronous protocol work (see idp.web.app); scale with more workers.
    threadpool_size: int = 4

    default_locale: Literal["fa", "en"] = "fa"
    # The pages' look (idp.web.pages.Brand): the emblem in the header (a path on this server or an
    # https URL; empty: none) and the footer's links (an https URL, a path here, mailto: or tel:;
    # unset: the link is not shown).
    brand_logo_url: str = "/static/emblem.svg"
    help_url: str | None = None
    privacy_url: str | None = None
    contact_url: str | None = None
    cookie_name: str = "idp_session"
    # None: Secure unless the issuer is plain http on loopback (development).
    cookie_secure: bool | None = None
    # Argon2id cost (OWASP: m=19 MiB, t=2, p=1); tests may lower it.
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2

    # OIDC Back-Channel Logout delivery (idp.sessions.delivery), in seconds: how often each server process
    # polls the outbox, the HTTP timeout per POST, and the retry schedule: attempt n waits
    # min(max_delay, base_delay * 2**(n-1)) after it fails; after max_attempts the notification is
    # recorded as failed (defaults: 8 attempts spread over about 21 minutes).
    backchannel_interval: float = Field(default=5.0, gt=0)
    backchannel_max_attempts: int = Field(default=8, gt=0)
    backchannel_base_delay: float = Field(default=10.0, gt=0)
    backchannel_max_delay: float = Field(default=3600.0, gt=0)
    backchannel_timeout: float = Field(default=5.0, gt=0)

    # Backend faults (README "When a backend is down"): seconds a Redis command, or opening a
    # database connection, may take before that backend counts as down; then its circuit breaker
    # answers 503 with Retry-After at once for *_breaker_interval seconds before one request probes it.
    redis_timeout: float = Field(default=0.5, gt=0)
    redis_breaker_interval: float = Field(default=5.0, gt=0)
    database_timeout: float = Field(default=3.0, gt=0)
    database_breaker_interval: float = Field(default=5.0, gt=0)

    # The database connection pool of each process (README, "PostgreSQL in production"): at most
    # database_pool_size + database_max_overflow connections; a request waits at most
    # database_pool_timeout seconds for one, a statement may run database_statement_timeout seconds
    # (0: the server's own setting); past either it is answered with 503. With
    # database_transaction_pooling the URL names PgBouncer (or another pooler) in transaction mode:
    # nothing is prepared on the server or sent per connection, and the statement timeout must be
    # set on the database role instead.
    database_pool_size: int = Field(default=10, gt=0)
    database_max_overflow: int = Field(default=20, ge=0)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_statement_timeout: float = Field(default=10.0, ge=0)
    database_transaction_pooling: bool = False

    # What must survive the loss of the ephemeral store (docs/design.md, "What may be lost"):
    # a private_key_jwt assertion may expire at most this many seconds after it is made (RFC 7523
    # §3: its id is remembered, durably, until then); expired revocations and assertion ids are
    # pruned from the database every prune_interval seconds.
    client_assertion_max_lifetime: int = Field(default=300, gt=0, le=3600)
    prune_interval: float = Field(default=300.0, gt=0)

    # Pairwise subjects (OIDC Core §8): the secret salt; if unset, one derived from the
    # key-encryption key. Changing it changes every pairwise `sub` (agencies lose their link to
    # the people they know), so it is set once, kept secret and never rotated.
    pairwise_salt: str | None = Field(default=None, repr=False)
    # Pushed authorization requests (RFC 9126): how long a request_uri may be used (once), and
    # whether every client must push its requests (each client can also be required to).
    par_ttl: int = Field(default=60, gt=0, le=600)
    require_pushed_authorization_requests: bool = False
    # Signed request objects (RFC 9101): the longest an object may be valid (exp - nbf, and exp
    # from now; FAPI 2.0 Message Signing allows at most 60 minutes).
    request_object_max_lifetime: int = Field(default=300, gt=0, le=3600)
    # DPoP (RFC 9449): how far a proof's iat may be from now (its jti is remembered that long),
    # and whether proofs must carry a nonce this server gave (§8), good for dpop_nonce_lifetime.
    dpop_proof_max_age: int = Field(default=60, gt=0, le=600)
    dpop_require_nonce: bool = False
    dpop_nonce_lifetime: int = Field(default=300, gt=0, le=3600)
    # Clients held to the FAPI 2.0 profile get codes good for this long (at most code_ttl).
    fapi2_code_ttl: int = Field(default=30, gt=0, le=60)
    # Token exchange (RFC 8693): how many agencies deep an `act` chain may grow.
    token_exchange_max_depth: int = Field(default=3, gt=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _no_retired_settings(cls, data: Any) -> Any:
        # Renamed or removed settings: starting with one is an error saying what to do instead,
        # never a silently different configuration. The environment is read here because settings
        # that are no longer fields are invisible to pydantic-settings; the error is not a
        # ValidationError, whose message would repeat every input, secrets included.
        given = {key.upper() for key in os.environ}
        if isinstance(data, dict):
            given |= {f"IDP_{key}".upper() for key in data}
        for name, instead in _RETIRED.items():
            if name in given:
                raise RetiredSetting(f"{name} is no longer read: {instead}")
        return data

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
        return value

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_without_hash_tag(cls, value: str) -> str:
        # In a Redis Cluster a key's slot is decided by its first "{...}": braces in the prefix would
        # put every key of the provider in one slot, on one primary.
        if "{" in value or "}" in value:
            raise ValueError("the Redis key prefix may not contain { or } (a hash tag would put every key in one slot)")
        return value

    @field_validator("brand_logo_url")
    @classmethod
    def _logo_here_or_https(cls, value: str) -> str:
        # An image the page loads: from us (a path) or over https, never a page-controlled scheme.
        if value and not (_is_local_path(value) or value.startswith("https://")):
            raise ValueError("the logo URL must be a path on this server (/static/...) or an https URL")
        return value

    @field_validator("help_url", "privacy_url", "contact_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        # A link every page shows: no javascript: or data: URL may ever be one.
        if not value:
            return None
        if not (_is_local_path(value) or value.startswith(("https://", "http://", "mailto:", "tel:"))):
            raise ValueError("a footer link must be an http(s) URL, a path on this server, mailto: or tel:")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_without_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("issuer must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _long_metrics_token(self) -> Settings:
        # A bearer token anyone on the network may try: long enough never to be guessed.
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            raise UnsafeSetting("IDP_METRICS_TOKEN must be at least 32 characters (e.g. `openssl rand -hex 32`).")
        return self

    @model_validator(mode="after")
    def _secure_cookies_on_https(self) -> Settings:
        # On https every cookie is `__Host-` and Secure (idp.web.cookies): no setting may turn that off.
        if self.cookie_secure is False and self.issuer.startswith("https://"):
            raise UnsafeSetting("IDP_COOKIE_SECURE=false is refused with an https issuer: cookies there are "
                                "always Secure and __Host- prefixed.")
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.issuer.startswith(("http://127.0.0.1", "http://localhost"))

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"
