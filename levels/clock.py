"""The current time, for every class that takes a clock.

Classes that read the time take a `clock: Clock` parameter defaulting to `utcnow`, so tests pass a
clock they set by hand and nothing else ever asks the system for the time. `idp` and
`legal_entities` use this one too; `keys` and `clients` import no other domain package and keep one
each (`keys.keyring.utcnow`, `clients.registry.utcnow`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, time-zone aware, in UTC."""
    return datetime.now(UTC)
