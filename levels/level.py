"""The three assurance levels and their default `acr` values.

A level is computed from the person's proofing tier and the factors of the current session; it is
never stored. The acr strings are defaults the web layer may override from settings.
"""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
    LOW = 1
    SUBSTANTIAL = 2
    HIGH = 3


DEFAULT_ACR: dict[Level, str] = {
    Level.LOW: "urn:idp:loa:1",
    Level.SUBSTANTIAL: "urn:idp:loa:2",
    Level.HIGH: "urn:idp:loa:3",
}

# eIDAS names accepted in acr_values as aliases of our own URNs.
EIDAS_ALIASES: dict[str, Level] = {"low": Level.LOW, "substantial": Level.SUBSTANTIAL, "high": Level.HIGH}

# RFC 8176 authentication method reference for each factor kind we record in a session.
KNOWLEDGE_FACTORS = frozenset({"pwd"})


def level_for_acr(acr: str, acr_map: dict[Level, str] = DEFAULT_ACR) -> Level | None:
    """The level an `acr` value names (our URN or an eIDAS alias), or None if unknown."""
    for level, uri in acr_map.items():
        if uri == acr:
            return level
    return EIDAS_ALIASES.get(acr)


def proven_level(proofing_tier: int, methods: frozenset[str]) -> Level | None:
    """The level a person with this proofing tier reaches with these fresh factors.

    Only the single-factor path exists so far: any one factor on a P1+ identity is level 1.
    Multi-factor rules for levels 2 and 3 live with the authenticators that provide them.
    """
    if proofing_tier >= 1 and methods:
        return Level.LOW
    return None
