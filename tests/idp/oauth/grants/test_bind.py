"""Grants get their collaborators passed in (`idp.oauth.grants.bind`), never through the server."""

from __future__ import annotations

from pathlib import Path

from idp.oauth import grants as grants_package
from idp.oauth.grants import bind
from idp.oauth.grants.client_credentials import ClientCredentialsGrant, ClientGrantDeps
from tests.idp.conftest import Idp


def test_bind_makes_a_subclass_carrying_the_collaborators() -> None:
    deps = ClientGrantDeps(issuer=object())  # type: ignore[arg-type]
    bound = bind(ClientCredentialsGrant, deps)
    assert issubclass(bound, ClientCredentialsGrant) and bound is not ClientCredentialsGrant
    assert bound.__name__ == "ClientCredentialsGrant" and bound.deps is deps
    assert not hasattr(ClientCredentialsGrant, "deps")  # the class itself is never changed


def test_every_registered_grant_has_its_collaborators(sqlite_idp: Idp) -> None:
    server = sqlite_idp.services.server
    registered = [cls for cls, _ in server._authorization_grants + server._token_grants]
    assert {cls.__name__ for cls in registered} == {"AuthorizationCodeGrant", "RefreshTokenGrant",
                                                   "ClientCredentialsGrant", "TokenExchangeGrant"}
    assert all(cls.deps is not None for cls in registered)


def test_no_grant_reaches_through_the_server_for_a_collaborator() -> None:
    # Authlib's own grant code calls the server (client authentication, scopes); ours never does.
    for path in sorted(Path(grants_package.__file__).parent.glob("*.py")):
        assert "self.server." not in path.read_text(encoding="utf-8"), path.name
