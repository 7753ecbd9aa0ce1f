"""The base of every exception the `legal_entities` package raises on purpose.

`idp` maps them to what a person or a client sees (`idp.web.error_map`); the domain never knows.
"""

from __future__ import annotations


class EntitiesError(Exception):
    """Base class for every error this package raises on purpose."""
