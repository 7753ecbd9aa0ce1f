"""Domain values for signing keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from keys.errors import UnsupportedAlgorithm

Alg = Literal["ES256", "RS256"]
SUPPORTED_ALGS: Final[tuple[Alg, ...]] = ("ES256", "RS256")


class KeyState(StrEnum):
    """Lifecycle of a key: next → active → retired → removed.

    `next` keys are published but not used yet, so relying parties that cache the JWKS
    already know them when they become active; `retired` keys still verify tokens issued
    before the rotation; `removed` keys are neither published nor used.
    """

    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"
    REMOVED = "removed"


PUBLISHED_STATES: Final[frozenset[KeyState]] = frozenset({KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The public, non-secret description of one signing key.

    `public_jwk` always carries `kid`, `alg` and `use="sig"`. Datetimes are timezone-aware
    (UTC); `activated_at` / `retired_at` are None until the key reaches that state.
    """

    kid: str
    alg: Alg
    state: KeyState
    public_jwk: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def published(self) -> bool:
        return self.state in PUBLISHED_STATES


def check_alg(alg: str) -> Alg:
    """Return `alg` narrowed to `Alg`, or raise `UnsupportedAlgorithm`."""
    if alg == "ES256":
        return "ES256"
    if alg == "RS256":
        return "RS256"
    expected = ", ".join(SUPPORTED_ALGS)
    raise UnsupportedAlgorithm(f"unsupported signing algorithm {alg!r}; expected one of {expected}")
