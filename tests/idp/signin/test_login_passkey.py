"""Signing in with a passkey alone, from the sign-in page (usernameless, user verification)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import CSRF_RE, ISSUER, REDIRECT_URI, TX_RE, Idp, pkce_pair
from tests.levels.authenticators.test_passkey import SoftAuthenticator


def _enrolled(idp: Idp) -> tuple[SoftAuthenticator, bytes]:
    authenticator = SoftAuthenticator(rp_id="idp.test", origin=ISSUER)
    options = idp.services.passkeys.registration_options(idp.person_id, idp.national_code, "Sara Ahmadi")
    credential = idp.services.passkeys.register(idp.person_id, authenticator.create(options))
    return authenticator, _unb64(credential.credential_id)


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_passkey_alone_signs_in_at_level_two(idp: Idp) -> None:
    idp.set_tier(2)
    authenticator, credential_id = _enrolled(idp)
    verifier, challenge = pkce_pair()
    r = idp.browser.get(f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256", "acr_values": "urn:idp:loa:2",
        "ui_locales": "en"}))
    page = idp.browser.get(r.headers["location"])
    assert "Use a passkey" in page.text
    options = html.unescape(re.search(r'data-options="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    handle = re.search(r'name="handle" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    signed = idp.browser.post("/login/passkey", data={
        "csrf_token": CSRF_RE.search(page.text).group(1),  # type: ignore[union-attr]
        "tx": TX_RE.search(page.text).group(1),  # type: ignore[union-attr]
        "handle": handle, "credential": authenticator.get(options, credential_id)})
    assert signed.status_code == 303
    back = idp.browser.get(signed.headers["location"])
    assert back.headers["location"].startswith(REDIRECT_URI + "?code=")
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    tokens = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    claims = jwt.decode(tokens.json()["id_token"], KeySet.import_key_set(idp.browser.get("/jwks").json())).claims
    assert claims["acr"] == "urn:idp:loa:2" and {"hwk", "user", "mfa"} <= set(claims["amr"])


def test_a_replayed_passkey_response_is_refused(sqlite_idp: Idp) -> None:
    authenticator, credential_id = _enrolled(sqlite_idp)
    r = sqlite_idp.browser.get(f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "ui_locales": "en"}))
    page = sqlite_idp.browser.get(r.headers["location"])
    options = html.unescape(re.search(r'data-options="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    data = {"csrf_token": CSRF_RE.search(page.text).group(1),  # type: ignore[union-attr]
            "tx": TX_RE.search(page.text).group(1),  # type: ignore[union-attr]
            "handle": re.search(r'name="handle" value="([^"]+)"', page.text).group(1),  # type: ignore[union-attr]
            "credential": authenticator.get(options, credential_id)}
    assert sqlite_idp.browser.post("/login/passkey", data=data).status_code == 303
    # The form's token was bound to the signed-out browser: the replay carries a current one, so
    # only the passkey check stands in its way.
    fresh = sqlite_idp.browser.get(r.headers["location"])
    data["csrf_token"] = CSRF_RE.search(fresh.text).group(1)  # type: ignore[union-attr]
    again = sqlite_idp.browser.post("/login/passkey", data=data)
    assert again.status_code == 400 and "The passkey could not be verified." in again.text
