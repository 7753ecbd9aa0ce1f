"""The FAPI 2.0 Security Profile, authorization side: pushed requests only, short-lived codes, and
services that only hardened clients reach. Authlib's client (private_key_jwt) plays the agency."""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey

from clients.services import Service, ServiceCatalogue
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, sign_in
from tests.idp.flows import error_at_client

BANK = "bank"
BANK_CALLBACK = "https://bank.example/callback"
VERIFIER = "f" * 64


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's client makes assertions that live an hour; ours must expire within five minutes."""

    def sign(self, auth, token_endpoint):  # type: ignore[no-untyped-def]
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id, token_endpoint=token_endpoint,
                                    header=self.headers, alg=self.alg, expires_in=120)


def register_bank(idp: Idp) -> OAuth2Client:
    """A client held to fapi2 whose catalogue has a service that requires it; Authlib as its back end."""
    key = ECKey.generate_key("P-256", parameters={"kid": "bank-1"})
    idp.add_client(BANK, redirect_uris=[BANK_CALLBACK], token_endpoint_auth_method="private_key_jwt",
                   jwks={"keys": [key.as_dict(private=False)]}, profile="fapi2",
                   require_pushed_authorization_requests=True, dpop_bound_access_tokens=True)
    ServiceCatalogue(idp.services.clients, idp.services.services).add(Service(BANK, "payment.send", 1, profile="fapi2"))
    # The issuer as the assertion's audience: RFC 9126 §2 has /par accept it, as /token does.
    return idp.oauth(BANK, client_secret=key, redirect_uri=BANK_CALLBACK, scope="openid payment.send",
                     token_endpoint_auth_method=ShortLivedPrivateKeyJWT(ISSUER, alg="ES256"))


def dpop_proof(key: ECKey, url: str) -> str:
    """An RFC 9449 proof, so the exchange is what a FAPI 2.0 client sends (sender-constrained tokens)."""
    return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)},
                      {"htm": "POST", "htu": url, "iat": int(time.time()), "jti": secrets.token_urlsafe(16)}, key)


def pushed_code(idp: Idp, bank: OAuth2Client, browser=None) -> str:  # type: ignore[no-untyped-def]
    """Push the bank's request, sign in, and return the redirect carrying the code."""
    r = bank.post(f"{ISSUER}/par", auth=bank.client_auth(bank.token_endpoint_auth_method), data={
        "response_type": "code", "redirect_uri": BANK_CALLBACK, "scope": "openid payment.send", "state": "b",
        "code_challenge": create_s256_code_challenge(VERIFIER), "code_challenge_method": "S256"})
    assert r.status_code == 201, r.text
    url = f"{ISSUER}/authorize?" + urlencode({"client_id": BANK, "request_uri": r.json()["request_uri"]})
    location = sign_in(browser or idp.browser, url, idp.national_code).headers["location"]
    assert location.startswith(BANK_CALLBACK + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["iss"] == [ISSUER]  # RFC 9207, FAPI 2.0 §5.3.2.2
    return location


def exchange(bank: OAuth2Client, location: str) -> dict[str, object]:
    proof = dpop_proof(ECKey.generate_key("P-256"), f"{ISSUER}/token")
    return dict(bank.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER,
                                 headers={"DPoP": proof}))


def test_a_fapi2_client_reaches_its_fapi2_service_through_a_pushed_request(idp: Idp) -> None:
    bank = register_bank(idp)
    token = exchange(bank, pushed_code(idp, bank))
    assert token["access_token"] and "payment.send" in str(token["scope"])


def test_a_fapi2_client_cannot_send_a_plain_request(idp: Idp) -> None:
    bank = register_bank(idp)
    url, state = bank.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER)
    r = idp.browser.get(url)
    assert r.status_code == 302 and r.headers["location"].startswith(BANK_CALLBACK + "?")
    error = parse_qs(urlsplit(r.headers["location"]).query)
    assert error["error"] == ["invalid_request"] and "must push" in error["error_description"][0]


def test_a_fapi2_service_is_refused_to_an_ordinary_client(idp: Idp) -> None:
    ServiceCatalogue(idp.services.clients, idp.services.services).add(
        Service("portal", "tax.refund", 1, profile="fapi2"))
    oauth = idp.oauth(scope="openid tax.refund")
    url, state = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER)
    error = error_at_client(idp.browser.get(url))
    assert error["error"] == "invalid_scope" and error["state"] == state
    assert "tax.refund requires the fapi2 security profile" in error["error_description"]
    # Pushed, it is refused all the same, as JSON.
    r = oauth.post(f"{ISSUER}/par", auth=oauth.client_auth("client_secret_basic"), data={
        "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid tax.refund",
        "code_challenge": create_s256_code_challenge(VERIFIER), "code_challenge_method": "S256"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_fapi2_codes_expire_after_fapi2_code_ttl(clocked_idp: tuple[Idp, list[float]]) -> None:
    idp, now = clocked_idp
    assert idp.services.settings.fapi2_code_ttl == 30
    bank = register_bank(idp)
    in_time = pushed_code(idp, bank)
    now[0] += 29
    assert exchange(bank, in_time)["access_token"]
    late = pushed_code(idp, bank)
    portal = idp.oauth()
    portal_url, _ = portal.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER)
    portal_location = sign_in(idp.browser, portal_url, idp.national_code).headers["location"]
    now[0] += 31
    with pytest.raises(Exception, match="invalid_grant"):
        exchange(bank, late)
    # An ordinary client's code, issued at the same time, is still good (IDP_CODE_TTL, 60 s).
    assert portal.fetch_token(f"{ISSUER}/token", authorization_response=portal_location, code_verifier=VERIFIER)
