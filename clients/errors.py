"""The base of every exception the `clients` package raises on purpose.

`idp` maps them to what a person or a client sees (`idp.web.error_map`); the domain never knows.
"""

from __future__ import annotations


class ClientsError(Exception):
    """Base class for every error this package raises on purpose."""
