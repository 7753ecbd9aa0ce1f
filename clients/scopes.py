"""Which scopes a client may be registered for: the standard ones this provider gives meaning to,
the services of the catalogue, and scopes some client already has. Anything else is far more often
a typo (`opneid`) than a new scope, and a typo registered silently is a portal that never gets what
it asks for; so a new scope is named on purpose (`idp clients create --new-scope`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from clients.errors import InvalidField
from clients.services import RESERVED_SCOPES

__all__ = ["ADMIN_READ_SCOPE", "ADMIN_SCOPES", "STANDARD_SCOPES", "UnknownScope", "check_known_scopes"]

# The admin API's scopes (`idp.admin`): each group's reads and changes, and every group's reads.
ADMIN_READ_SCOPE = "idp.admin.read"
ADMIN_SCOPES: frozenset[str] = frozenset(
    {"idp.admin.clients", "idp.admin.people", "idp.admin.entities", "idp.admin.keys", ADMIN_READ_SCOPE}
)
STANDARD_SCOPES: frozenset[str] = RESERVED_SCOPES | ADMIN_SCOPES


class UnknownScope(InvalidField):
    """A scope no one has defined, with the nearest known one if there is a close one."""

    def __init__(self, scope: str, nearest: str | None) -> None:
        hint = f"; did you mean {nearest!r}?" if nearest else "."
        super().__init__("scopes", f"{scope!r} is not a known scope{hint} To define a new scope on purpose,"
                                   f" give it with --new-scope {scope}.")
        self.scope = scope
        self.nearest = nearest


def check_known_scopes(scopes: Iterable[str], known: Iterable[str], *, new: Iterable[str] = ()) -> None:
    """Raise `UnknownScope` for the first of `scopes` that is neither standard, nor in `known`, nor
    one of the `new` scopes being defined on purpose."""
    allowed = set(STANDARD_SCOPES) | set(known) | set(new)
    candidates = sorted(STANDARD_SCOPES | set(known))
    for scope in scopes:
        if scope not in allowed:
            nearest = difflib.get_close_matches(scope, candidates, n=1, cutoff=0.6)
            raise UnknownScope(scope, nearest[0] if nearest else None)
