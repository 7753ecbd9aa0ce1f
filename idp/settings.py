"""All configuration, read once from `IDP_*` environment variables.

This is the only module that looks at the environment; everything else receives plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    client_cache_ttl: float = 5.0
    key_reload_interval: float = 30.0

    # Failed sign-ins allowed per window, per account and per client IP.
    login_attempts_per_account: int = 5
    login_attempts_per_ip: int = 50
    login_attempt_window: int = 15 * 60
    # Failed client authentications (token, introspection, revocation) per client+IP and per IP.
    client_auth_failures_per_client: int = 20
    client_auth_failures_per_ip: int = 200

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

    # SMS: by default every message is appended to a local outbox file (development, tests).
    sms_outbox: Path = Path("var/sms-outbox.jsonl")
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = Field(default=None, repr=False)

    # Threads per worker for synchronous protocol work (see idp.app); scale with more workers.
    threadpool_size: int = 4

    default_locale: Literal["fa", "en"] = "fa"
    cookie_name: str = "idp_session"
    # None: Secure unless the issuer is plain http on loopback (development).
    cookie_secure: bool | None = None
    trust_forwarded_for: bool = False
    # Argon2id cost (OWASP: m=19 MiB, t=2, p=1); tests may lower it.
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2

    # OIDC Back-Channel Logout delivery (idp.backchannel), in seconds: how often each server process
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

    @field_validator("issuer")
    @classmethod
    def _issuer_without_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("issuer must be an http(s) URL")
        return value.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not self.issuer.startswith(("http://127.0.0.1", "http://localhost"))

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"
