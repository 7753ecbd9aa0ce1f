"""The exceptions of the legal-entities package, under one base so callers can map them in one place."""

from __future__ import annotations

from datetime import date


class EntitiesError(Exception):
    """Base of every error the legal-entities package raises on purpose."""


class UnknownEntity(EntitiesError, LookupError):
    """No legal entity is stored under this national ID."""


class UnknownRepresentation(EntitiesError, LookupError):
    """No representation is stored under this id."""


class InvalidRepresentation(EntitiesError, ValueError):
    """A role, a set of powers, a validity window or an actor that cannot be stored; the message says why."""


class InvalidRegistryRecord(EntitiesError, ValueError):
    """A record of a registry import breaks a rule; nothing of the import was stored."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class DelegationRefused(EntitiesError, ValueError):
    """A delegation breaks a rule. `message` is an English sentence with %(name)s placeholders that
    the web layer translates before filling in `params` (dates as `date`, shown in the reader's
    calendar); `reason` is the filled-in English sentence."""

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        self.reason = message % {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}
        super().__init__(self.reason)
