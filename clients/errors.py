"""The base of every exception the `clients` package raises on purpose.

`idp` maps them to what a person or a client sees (`idp.web.error_map`); the domain never knows.
"""

from __future__ import annotations


class ClientsError(Exception):
    """Base class for every error this package raises on purpose."""


class InvalidField(ClientsError, ValueError):
    """A value breaks a rule; the message names the field and the reason (the CLI and any API show
    it as it is)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
