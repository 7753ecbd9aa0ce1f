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
