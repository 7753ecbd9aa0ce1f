"""Every kind of record kept in the ephemeral store, by the key prefix it lives under.

One list, so that no two kinds of record can ever write the same key (`tests/idp/storage/test_keys.py`
checks it). Each kind is read and written by one typed class that owns its prefix and how its
values are encoded (`idp.storage.records.Records` and the classes built on it); no other code
writes a key string. The domain packages own their keys themselves (`levels` never imports `idp`);
they are listed here under the namespace `idp` gives them, so the list stays complete.

A key is its prefix followed by an id. Where one prefix starts another ("register:" and the
registration throttle's "register:ip:"), the shorter kind's ids are opaque (random tokens or hex
digests, never a ":"), so its keys can never reach into the longer one's. The strings are what
is on the wire in Redis: changing one loses every record of that kind at deployment.

No key holds a hash tag (`{...}`): every store operation touches one key, so in a Redis Cluster
records spread over every primary (docs/design.md, "Redis Cluster and hash slots").
"""

from __future__ import annotations

from dataclasses import dataclass

from levels import throttle
from levels.authenticators import passkey, sms_otp, totp


@dataclass(frozen=True, slots=True)
class KeyKind:
    prefix: str
    holds: str
    # The ids after the prefix never contain ":" (random tokens, hashes): a longer prefix that
    # starts with this one can then never be reached by one of its keys.
    opaque_ids: bool = True


# Sign-in and sessions (idp.sessions)
SESSION = "sess:"  # a copy of an SSO session, by the SHA-256 of its cookie
LOGIN_TRANSACTION = "tx:"  # a pending authorization request while the person signs in
ACTING_CHOICE = "tx-acting:"  # whom the person chose to act as in a login transaction
CONSENT_MARK = "tx-consent:"  # the person consented in this login transaction
# OAuth (idp.oauth)
CODE = "code:"  # an authorization code, by its SHA-256
CODE_USED = "code-used:"  # a redeemed code: what a replay of it must revoke
DPOP_JTI = "dpop-jti:"  # a DPoP proof already used, by the SHA-256 of its key thumbprint and jti
PUSHED_REQUEST = "par:"  # a pushed authorization request (RFC 9126), by the random part of its request_uri
REVOKED = "revoked:"  # a copy of a durable revocation: "revoked:jti:<jti>", "revoked:sid:<sid>"
# Account pages (idp.account)
REGISTRATION = "register:"  # a registration waiting for its SMS code
REGISTRATION_NOTICE = "register-notice:"  # the owner of a national code was told of a registration attempt
RECOVERY = "recover:"  # a password reset waiting for its SMS code (and its ":challenge")
ACTIVATION = "activate:"  # an activation code accepted, waiting for the new password (the code itself is durable)
# Domain classes build their keys themselves, under a namespace idp gives them (or their default).
LOGIN_THROTTLE_NS = throttle.DEFAULT_NAMESPACE  # levels.throttle.LoginThrottle: sign-in failures
CLIENT_AUTH_THROTTLE_NS = "client-auth"  # LoginThrottle: client authentication failures
REGISTRATION_THROTTLE_NS = "register"  # LoginThrottle: registrations ("register:ip:", "register:acct:", ...)
SMS_OTP_NS = sms_otp.DEFAULT_NAMESPACE  # levels.authenticators.sms_otp.SmsOtp: codes and send limits
PASSKEY = passkey.KEY_PREFIX  # levels.authenticators.passkey.Passkeys: WebAuthn challenges
STEP_UP_SMS = sms_otp.STEP_PREFIX  # SmsOtp: the code a step-up is bound to (and its ":hint")
TOTP_PENDING = totp.PENDING_PREFIX  # levels.authenticators.totp: an authenticator app being enrolled


KINDS: tuple[KeyKind, ...] = (
    KeyKind(SESSION, "SSO session copies"),
    KeyKind(LOGIN_TRANSACTION, "login transactions"),
    KeyKind(ACTING_CHOICE, "acting choices"),
    KeyKind(CONSENT_MARK, "consent marks"),
    KeyKind(STEP_UP_SMS, "step-up SMS challenges"),
    KeyKind(CODE, "authorization codes"),
    KeyKind(CODE_USED, "redeemed authorization codes"),
    KeyKind(DPOP_JTI, "used DPoP proof ids"),
    KeyKind(PUSHED_REQUEST, "pushed authorization requests"),
    KeyKind(REVOKED, "revocation marks", opaque_ids=False),
    KeyKind(REGISTRATION, "pending registrations"),
    KeyKind(REGISTRATION_NOTICE, "registration notices"),
    KeyKind(RECOVERY, "pending password resets"),
    KeyKind(ACTIVATION, "accepted activation codes waiting for a password"),
    KeyKind(TOTP_PENDING, "authenticator apps being enrolled"),
    KeyKind(LOGIN_THROTTLE_NS + ":", "sign-in failure counters", opaque_ids=False),
    KeyKind(CLIENT_AUTH_THROTTLE_NS + ":", "client authentication failure counters", opaque_ids=False),
    # Beside "register:" + an opaque id: listed by counter, so the check sees they cannot meet.
    *(KeyKind(f"{REGISTRATION_THROTTLE_NS}:{c}:", "registration failure counters", opaque_ids=False)
      for c in throttle.COUNTERS),
    KeyKind(SMS_OTP_NS + ":", "SMS one-time codes and send limits", opaque_ids=False),
    KeyKind(PASSKEY, "passkey challenges", opaque_ids=False),
)
