"""Pushed authorization requests (RFC 9126) through HTTP, with Authlib's OAuth client as the relying party."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.jwk import ECKey

from idp.oauth.pushed import REQUEST_URI_PREFIX
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, _build, _settings, one_loop, sign_in
from tests.idp.flows import error_at_client

VERIFIER = "v" * 64


def push(oauth: OAuth2Client, **overrides: str) -> httpx.Response:
    """POST the client's authorization request to /par, authenticated as at the token endpoint."""
    params = {"response_type": "code", "redirect_uri": str(oauth.redirect_uri), "scope": "openid profile",
              "state": "pushed-state", "nonce": "n", "code_challenge": create_s256_code_challenge(VERIFIER),
              "code_challenge_method": "S256"}
    params.update(overrides)
    return oauth.post(f"{ISSUER}/par", data={k: v for k, v in params.items() if v is not None},
                      auth=oauth.client_auth(oauth.token_endpoint_auth_method))


def authorize_url(request_uri: str, client_id: str = "portal", **extra: str) -> str:
    return f"{ISSUER}/authorize?" + urlencode({"client_id": client_id, "request_uri": request_uri, **extra})


def refused_on_a_page(r: httpx.Response, error: str) -> None:
    assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.headers.get("location"))
    assert error in r.text


def test_a_pushed_request_ends_with_tokens(idp: Idp) -> None:
    oauth = idp.oauth()
    r = push(oauth)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["request_uri"].startswith(REQUEST_URI_PREFIX) and body["expires_in"] == 60
    # The browser brings only the request_uri and client_id; the sign-in (login page, then
    # /authorize/resume) continues without the request_uri, which was used up at once.
    location = sign_in(idp.browser, authorize_url(body["request_uri"]), idp.national_code).headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert parse_qs(urlsplit(location).query)["state"] == ["pushed-state"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)
    assert token["id_token"] and token["scope"] == "openid profile"


def test_parameters_beside_the_request_uri_are_ignored(idp: Idp) -> None:
    """RFC 9126 §4: only the pushed parameters count."""
    oauth = idp.oauth()
    sign_in(idp.browser, authorize_url(push(oauth).json()["request_uri"]), idp.national_code)  # signed in
    request_uri = push(oauth).json()["request_uri"]
    r = idp.browser.get(authorize_url(request_uri, redirect_uri="https://evil.example/cb", state="outer",
                                      scope="openid phone", response_mode="form_post"))
    assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["state"] == ["pushed-state"] and "code" in query
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=r.headers["location"], code_verifier=VERIFIER)
    assert token["scope"] == "openid profile"


def test_a_request_uri_is_used_once(idp: Idp) -> None:
    oauth = idp.oauth()
    url = authorize_url(push(oauth).json()["request_uri"])
    assert sign_in(idp.browser, url, idp.national_code).headers["location"].startswith(REDIRECT_URI)
    refused_on_a_page(idp.browser.get(url), "invalid_request_uri")
    # A browser that never used it is refused all the same.
    refused_on_a_page(idp.new_browser().get(url), "invalid_request_uri")


def test_a_request_uri_expires(clocked_idp: tuple[Idp, list[float]]) -> None:
    idp, now = clocked_idp
    oauth = idp.oauth()
    expiring, lasting = push(oauth).json()["request_uri"], push(oauth).json()["request_uri"]
    now[0] += 59
    assert idp.browser.get(authorize_url(lasting)).status_code == 302  # to the login page
    now[0] += 2
    refused_on_a_page(idp.browser.get(authorize_url(expiring)), "invalid_request_uri")


def test_a_request_uri_is_only_for_the_client_that_pushed_it(idp: Idp) -> None:
    idp.add_client("other", token_endpoint_auth_method="none", redirect_uris=[REDIRECT_URI])
    request_uri = push(idp.oauth()).json()["request_uri"]
    refused_on_a_page(idp.browser.get(authorize_url(request_uri, client_id="other")), "invalid_request_uri")
    refused_on_a_page(idp.browser.get(authorize_url(request_uri, client_id="nobody")), "invalid_request_uri")
    refused_on_a_page(idp.browser.get(f"{ISSUER}/authorize?" + urlencode({"request_uri": request_uri})),
                      "invalid_request")
    # Naming it with another client_id did not use it up.
    r = idp.browser.get(authorize_url(request_uri))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?")


@pytest.mark.parametrize("request_uri", [
    "https://portal.example/request.jwt", REQUEST_URI_PREFIX + "made-up", REQUEST_URI_PREFIX,
    REQUEST_URI_PREFIX + "a:b", REQUEST_URI_PREFIX + "é" * 40,
])
def test_only_request_uris_we_issued_are_accepted(sqlite_idp: Idp, request_uri: str) -> None:
    refused_on_a_page(sqlite_idp.browser.get(authorize_url(request_uri)), "invalid_request_uri")


def test_wrong_client_authentication_is_401_invalid_client(idp: Idp) -> None:
    for oauth in (idp.oauth(client_secret="wrong"), idp.oauth(client_secret="wrong",
                                                              token_endpoint_auth_method="client_secret_post")):
        r = push(oauth)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    # Only the client_id of a confidential client is no authentication at all.
    r = idp.browser.post("/par", data={"client_id": "portal", "response_type": "code", "redirect_uri": REDIRECT_URI})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_a_public_client_pushes_with_its_client_id(idp: Idp) -> None:
    idp.add_client("app", token_endpoint_auth_method="none", redirect_uris=[REDIRECT_URI])
    oauth = idp.oauth("app", client_secret="", token_endpoint_auth_method="none")
    r = push(oauth)
    assert r.status_code == 201, r.text
    location = sign_in(idp.browser, authorize_url(r.json()["request_uri"], client_id="app"),
                       idp.national_code).headers["location"]
    assert oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)["id_token"]


@pytest.mark.parametrize(("overrides", "error", "says"), [
    ({"redirect_uri": "https://evil.example/cb"}, "invalid_request", "redirect_uri is not registered"),
    ({"code_challenge": None}, "invalid_request", "PKCE is required"),
    ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
    ({"response_type": "token"}, "unsupported_response_type", ""),
    ({"prompt": "none login"}, "invalid_request", "prompt=none"),
    ({"claims": "not json"}, "invalid_request", "claims parameter"),
    ({"acr_values": "urn:other"}, "invalid_request", ""),
    ({"request_uri": REQUEST_URI_PREFIX + "x"}, "invalid_request", "request_uri cannot be pushed"),
    ({"client_id": "someone-else"}, "invalid_request", "client_id does not match"),
    ({"state": "s" * 3000}, "invalid_request", "state parameter is too long"),
])
def test_a_bad_pushed_request_is_a_json_error(
    sqlite_idp: Idp, overrides: dict[str, str | None], error: str, says: str,
) -> None:
    r = push(sqlite_idp.oauth(), **overrides)  # type: ignore[arg-type]
    assert r.status_code == 400 and "location" not in r.headers, r.text
    body = r.json()
    assert body["error"] == error and says in body.get("error_description", ""), body
    assert "state" not in body


def test_a_client_required_to_push_cannot_send_a_plain_request(idp: Idp) -> None:
    secret = idp.add_client("pushing", redirect_uris=[REDIRECT_URI], require_pushed_authorization_requests=True)
    oauth = idp.oauth("pushing", client_secret=secret)
    url, state = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER)
    error = error_at_client(idp.browser.get(url))
    assert error["error"] == "invalid_request" and "must push" in error["error_description"]
    assert error["state"] == state
    r = push(oauth)
    assert r.status_code == 201
    location = sign_in(idp.browser, authorize_url(r.json()["request_uri"], client_id="pushing"),
                       idp.national_code).headers["location"]
    assert oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)["id_token"]


def test_the_provider_can_require_every_client_to_push(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"require_pushed_authorization_requests": True})
    with one_loop(_build(settings, MemoryStore())) as idp:
        assert idp.browser.get("/.well-known/openid-configuration").json()[
            "require_pushed_authorization_requests"] is True
        oauth = idp.oauth()
        url_, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER)
        assert "must push" in error_at_client(idp.browser.get(url_))["error_description"]
        location = sign_in(idp.browser, authorize_url(push(oauth).json()["request_uri"]),
                           idp.national_code).headers["location"]
        assert oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)


def test_failed_client_authentication_at_par_is_throttled_as_at_the_token_endpoint(idp: Idp) -> None:
    limit = idp.services.settings.client_auth_failures_per_client_ip
    statuses = [push(idp.oauth(client_secret=f"guess {n}")).status_code for n in range(limit + 2)]
    assert statuses == [401] * limit + [429] * 2
    r = push(idp.oauth())
    assert r.status_code == 429 and r.json()["error"] == "invalid_client" and int(r.headers["retry-after"]) > 0


@pytest.mark.parametrize("audience", [ISSUER, f"{ISSUER}/token", f"{ISSUER}/par"])
def test_a_private_key_jwt_client_may_address_its_assertion_to_the_issuer_or_either_endpoint(
    sqlite_idp: Idp, audience: str
) -> None:
    """RFC 9126 section 2: the issuer, the token endpoint and the PAR endpoint all name us."""
    key = ECKey.generate_key("P-256", parameters={"kid": "signer-1"})
    sqlite_idp.add_client("signer", token_endpoint_auth_method="private_key_jwt", redirect_uris=[REDIRECT_URI],
                          jwks={"keys": [key.as_dict(private=False)]})
    oauth = sqlite_idp.oauth("signer", client_secret=key, token_endpoint_auth_method=ShortAssertion(audience))
    assert push(oauth).status_code == 201
    elsewhere = sqlite_idp.oauth("signer", client_secret=key,
                                 token_endpoint_auth_method=ShortAssertion("https://other.example/par"))
    refused = push(elsewhere)
    assert refused.status_code == 401 and f"{ISSUER}/par" in refused.json()["error_description"]


class ShortAssertion(PrivateKeyJWT):
    """Authlib's private_key_jwt with a two-minute assertion (its default, an hour, is refused)."""

    alg = "ES256"

    def sign(self, auth, token_endpoint):  # type: ignore[no-untyped-def]
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                    alg=self.alg, expires_in=120)
