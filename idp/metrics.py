"""The provider's Prometheus metrics (docs/operations.md, "Metrics"): defined once, here.

Each event is counted where it is decided, once: HTTP requests by the access log layer
(`idp.web.logs`), sign-ins and step-ups from the audit log (`audited`, called by
`idp.audit.AuditLog.record`, the one place every sign-in outcome is recorded), tokens by the token
endpoint (`idp.oauth.token`), rate-limit refusals by the throttles (`levels.throttle`, through the
hook it is given), back-channel logout failures by the deliverer (`idp.sessions.delivery`), backend
errors by the circuit breakers (`idp.storage.breaker`). Gauges that describe state rather than
events (key ages, outbox depth) are computed when scraped (`idp.web.metrics`).

With `PROMETHEUS_MULTIPROC_DIR` set (several server processes), prometheus-client keeps every
value in a file there and `/metrics` adds up all processes; the directory must be empty when the
server starts. Without it, values live in this process's default registry.

Labels are bounded sets only: route templates, never raw paths; grant types we know, else "other".
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import orjson
from prometheus_client import Counter, Histogram

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

# Seconds: from a few milliseconds (discovery, client_credentials) to the slow edge of a sign-in (argon2, SMS).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "idp_http_requests", "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "idp_http_request_duration_seconds", "Time to answer a request, by route template and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)
SIGN_INS = Counter(
    "idp_sign_ins", "Sign-ins at the sign-in page by outcome (success, failure), the level reached "
    "(none on failure) and the method (pwd, passkey...).", ["outcome", "level", "method"],
)
STEP_UPS = Counter(
    "idp_step_ups", "Step-up factors proven or failed after the first sign-in, by factor and outcome.",
    ["factor", "outcome"],
)
TOKENS_ISSUED = Counter("idp_tokens_issued", "Successful token endpoint answers, by grant type.", ["grant_type"])
TOKEN_REFUSALS = Counter(
    "idp_token_refusals", "Token endpoint answers other than 200, by grant type and OAuth error code.",
    ["grant_type", "error"],
)
RATE_LIMITED = Counter(
    "idp_rate_limit_refusals", "Attempts refused by a rate limit, by limit (sign_in, client_auth, "
    "registration, sms_sends).", ["limit"],
)
BACKCHANNEL_FAILURES = Counter(
    "idp_backchannel_logout_failures", "Back-channel logout deliveries that failed: an attempt to be "
    "retried (retry) or a notification given up (given_up).", ["outcome"],
)
BACKEND_ERRORS = Counter(
    "idp_backend_errors", "Calls to a backend that failed, by backend (store: Redis; database) and error: "
    "unreachable (could not connect or timed out: the circuit breaker opens), refused (Redis answered an "
    "error), lost (a connection died mid-request), timeout (a statement cancelled by statement_timeout), "
    "pool (no pooled connection came free in time).", ["backend", "error"],
)

GRANT_TYPES = frozenset({
    "authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
})
OTHER = "other"
NO_LEVEL = "none"


# Error codes of the token endpoint (RFC 6749 §5.2, RFC 9449, RFC 8693, RFC 6749 §4.1.2.1); others are "other".
TOKEN_ERRORS = frozenset({
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "invalid_target", "invalid_dpop_proof", "use_dpop_nonce", "temporarily_unavailable",
    "server_error", "access_denied",
})


def grant_label(grant_type: str | None) -> str:
    return grant_type if grant_type in GRANT_TYPES else OTHER


@functools.cache
def _issued(grant_type: str) -> Any:
    return TOKENS_ISSUED.labels(grant_type)


def token_answered(grant_type: str | None, status: int, body: bytes) -> None:
    """The token endpoint answered (`idp.oauth.token`): an issued token, or a refusal and its error."""
    grant = grant_label(grant_type)
    if status == 200:
        _issued(grant).inc()
        return
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    TOKEN_REFUSALS.labels(grant, error if error in TOKEN_ERRORS else OTHER).inc()


def audited(kind: str, detail: Mapping[str, object]) -> None:
    """Count what an audit event says happened (`idp.audit.AuditLog.record` calls this)."""
    if kind == "login.succeeded":
        SIGN_INS.labels("success", str(detail.get("level") or NO_LEVEL), _method(detail)).inc()
    elif kind == "login.failed":
        if detail.get("step_up"):
            STEP_UPS.labels(_method(detail), "failure").inc()
        else:
            SIGN_INS.labels("failure", NO_LEVEL, _method(detail)).inc()
    elif kind == "login.step_up":
        STEP_UPS.labels(_method(detail), "success").inc()


def _method(detail: Mapping[str, object]) -> str:
    # Method names come from our own factor table; anything else is folded so a label stays bounded.
    method = str(detail.get("method") or OTHER)
    return method if len(method) <= 32 and method.replace("_", "").isalnum() else OTHER


# The throttles' namespaces (`idp.storage.keys`), as the limits are called in the metric.
LIMITS = {"throttle": "sign_in", "client-auth": "client_auth", "register": "registration", "sms-otp": "sms_sends"}


def backend_error(backend: str, error: str) -> None:
    BACKEND_ERRORS.labels(backend, error).inc()


def rate_limited(namespace: str) -> None:
    """An attempt was refused by a `levels.throttle.LoginThrottle` or an SMS code by the sending
    limit of `levels.authenticators.sms_otp.SmsOtp` (their `on_refused` hooks)."""
    RATE_LIMITED.labels(LIMITS.get(namespace, OTHER)).inc()
