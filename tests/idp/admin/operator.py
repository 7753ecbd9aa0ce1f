"""An operator client as an operator registers one (private_key_jwt, client_credentials, the admin
audience and scopes), and getting its token from our own token endpoint with a joserfc-signed
client assertion: the admin API tests' shared steps."""

from __future__ import annotations

import httpx
from joserfc.jwk import ECKey

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import assertion_grant

ADMIN = f"{ISSUER}/admin/v1"
ALL_SCOPES = ["idp.admin.clients", "idp.admin.people", "idp.admin.entities", "idp.admin.keys"]


def register_operator(idp: Idp, client_id: str = "ops", scopes: list[str] | None = None, **fields: object) -> ECKey:
    """An operator client, registered the way the documentation says; returns its signing key."""
    key = ECKey.generate_key("P-256", parameters={"kid": f"{client_id}-1", "alg": "ES256", "use": "sig"})
    idp.services.clients.create(
        client_id=client_id, name=client_id, redirect_uris=[], grant_types=["client_credentials"],
        scopes=scopes if scopes is not None else ALL_SCOPES, audiences=[ADMIN],
        token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]}, **fields)
    return key


def operator_token(idp: Idp, key: ECKey, client_id: str = "ops", scope: str | None = None,
                   headers: dict[str, str] | None = None) -> str:
    """An access token for the admin API from /token (client_credentials, resource = the admin audience)."""
    form = {**assertion_grant(key, f"{ISSUER}/token", client_id), "resource": ADMIN}
    if scope is not None:
        form["scope"] = scope
    r = idp.browser.post("/token", data=form, headers=headers or {})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def operator(idp: Idp, client_id: str = "ops", scopes: list[str] | None = None) -> httpx.Client:
    """An HTTP client of the admin API carrying a fresh operator token (through the ASGI app)."""
    key = register_operator(idp, client_id, scopes)
    token = operator_token(idp, key, client_id)
    return httpx.Client(transport=idp.transport, base_url=ADMIN, headers={"Authorization": f"Bearer {token}"})


def actors(idp: Idp, kind: str) -> list[str | None]:
    """Who the audit log says did each `kind` event, oldest first."""
    return [row.actor for row in reversed(idp.services.audit.recent(kind=kind, limit=100))]
