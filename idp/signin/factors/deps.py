"""What the built-in factors are made from: the services they share, built once in `idp.services`."""

from __future__ import annotations

from dataclasses import dataclass

from idp.settings import Settings
from idp.storage.store import Store
from levels.authenticators.passkey import Passkeys
from levels.authenticators.password import PasswordHashes, Passwords
from levels.authenticators.sms_otp import SmsOtp
from levels.authenticators.totp import Totp
from levels.credentials_sql import CredentialStore


@dataclass(frozen=True, slots=True)
class FactorDeps:
    settings: Settings
    store: Store
    people: PasswordHashes
    passwords: Passwords
    sms_otp: SmsOtp
    totp: Totp
    credentials: CredentialStore
    recovery_key: bytes
    passkeys: Passkeys
