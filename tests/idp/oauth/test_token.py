"""Token introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens


def _introspect(idp: Idp, token: str, auth: tuple[str, str] | None = None, **extra: str) -> dict[str, object]:
    r = idp.browser.post("/introspect", auth=auth or ("portal", idp.portal_secret), data={"token": token, **extra})
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_introspection_of_active_access_and_refresh_tokens(idp: Idp) -> None:
    tokens = user_tokens(idp)
    at = _introspect(idp, tokens["access_token"])
    assert at["active"] is True and at["client_id"] == "portal" and at["sub"] == idp.person_id
    assert at["acr"] == "urn:idp:loa:1" and at["amr"] == ["pwd"] and at["iss"] == ISSUER
    assert set(at["scope"].split()) == {"openid", "profile", "offline_access"}  # type: ignore[union-attr]
    rt = _introspect(idp, tokens["refresh_token"], token_type_hint="refresh_token")
    assert rt["active"] is True and rt["token_type"] == "refresh_token" and rt["acr"] == "urn:idp:loa:1"


def test_introspection_needs_client_authentication_and_hides_other_clients_tokens(idp: Idp) -> None:
    tokens = user_tokens(idp)
    r = idp.browser.post("/introspect", data={"token": tokens["access_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    secret = idp.add_client("nosy", redirect_uris=[], grant_types=["client_credentials"], scopes=["x"],
                            audiences=["https://x.example"])
    assert _introspect(idp, tokens["access_token"], auth=("nosy", secret)) == {"active": False}


def test_resource_server_may_introspect_tokens_addressed_to_it(sqlite_idp: Idp) -> None:
    api_secret = sqlite_idp.add_client("inquiry-api", redirect_uris=[], grant_types=["client_credentials"],
                                       scopes=["x"], audiences=["https://x.example"])
    caller_secret = sqlite_idp.add_client("caller", redirect_uris=[], grant_types=["client_credentials"],
                                          scopes=["inquiry.read"], audiences=["inquiry-api"])
    token = sqlite_idp.browser.post("/token", auth=("caller", caller_secret),
                                    data={"grant_type": "client_credentials"}).json()["access_token"]
    result = _introspect(sqlite_idp, token, auth=("inquiry-api", api_secret))
    assert result["active"] is True and result["client_id"] == "caller" and result["aud"] == "inquiry-api"


def test_revoking_an_access_token_makes_it_inactive_everywhere(idp: Idp) -> None:
    tokens = user_tokens(idp)
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret),
                         data={"token": tokens["access_token"], "token_type_hint": "access_token"})
    assert r.status_code == 200
    assert _introspect(idp, tokens["access_token"]) == {"active": False}
    info = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401 and 'error="invalid_token"' in info.headers["www-authenticate"]


def test_revoking_a_refresh_token_ends_the_grant(idp: Idp) -> None:
    tokens = user_tokens(idp)
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret), data={"token": tokens["refresh_token"]})
    assert r.status_code == 200
    refresh = idp.browser.post("/token", auth=("portal", idp.portal_secret),
                               data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert _introspect(idp, tokens["access_token"]) == {"active": False}


def test_revoking_an_unknown_token_is_not_an_error(sqlite_idp: Idp) -> None:
    # RFC 7009 §2.2: invalid tokens do not cause an error response.
    r = sqlite_idp.browser.post("/revoke", auth=("portal", sqlite_idp.portal_secret), data={"token": "nonsense"})
    assert r.status_code == 200


def test_revocation_without_token_parameter_is_invalid_request(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.post("/revoke", auth=("portal", sqlite_idp.portal_secret), data={})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
