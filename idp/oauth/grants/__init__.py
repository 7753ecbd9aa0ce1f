"""Token grants, one module each, registered on the authorization server by `idp.oauth.server`.

A grant gets what it uses (stores, the token issuer, the audit log) as a frozen `deps` record
passed in when the server is built, never through `self.server`: Authlib makes a new grant object
per request from the class it was given (`grant_cls(request, server)`), so `bind` fixes the
collaborators on a subclass registered once. Grants never import the server module.
"""

from __future__ import annotations

from typing import TypeVar

G = TypeVar("G", bound=type)


def bind(grant_cls: G, deps: object) -> G:
    """`grant_cls` with its collaborators: a subclass whose `deps` is `deps`, for `register_grant`."""
    return type(grant_cls.__name__, (grant_cls,), {"deps": deps, "__module__": grant_cls.__module__})  # type: ignore[return-value]
