"""Delivering the authorization response (`idp.oauth.response`): to the validated redirect URI,
with `state` as sent and `iss` (RFC 9207), in the query or by form post."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, pkce_pair, sign_in


def _authorize(verifier_challenge: tuple[str, str] | None = None, **extra: str) -> str:
    _, challenge = verifier_challenge or pkce_pair()
    return f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256", **extra})


def test_in_the_query_the_code_comes_with_state_and_issuer_once_each(idp: Idp) -> None:
    r = sign_in(idp.browser, _authorize(state="a b&c=d"), idp.national_code)
    assert r.status_code == 302 and r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    location = r.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = parse_qsl(urlsplit(location).query)
    assert [name for name, _ in params] == ["code", "state", "iss"]
    assert dict(params)["state"] == "a b&c=d" and dict(params)["iss"] == ISSUER


def test_without_state_none_is_added(sqlite_idp: Idp) -> None:
    r = sign_in(sqlite_idp.browser, _authorize(), sqlite_idp.national_code)
    assert [name for name, _ in parse_qsl(urlsplit(r.headers["location"]).query)] == ["code", "iss"]


def test_a_redirect_uri_with_its_own_query_keeps_it(sqlite_idp: Idp) -> None:
    sqlite_idp.add_client("library", redirect_uris=["https://library.example/cb?tenant=7"], scopes=["openid"])
    _, challenge = pkce_pair()
    url = f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "library", "redirect_uri": "https://library.example/cb?tenant=7",
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    location = sign_in(sqlite_idp.browser, url, sqlite_idp.national_code).headers["location"]
    assert location.startswith("https://library.example/cb?tenant=7&code=")
    assert dict(parse_qsl(urlsplit(location).query))["tenant"] == "7"


def test_by_form_post_the_browser_posts_the_same_parameters_to_the_client(idp: Idp) -> None:
    verifier, challenge = pkce_pair()
    r = sign_in(idp.browser, _authorize((verifier, challenge), state='s"<x>', response_mode="form_post",
                                        ui_locales="en"), idp.national_code)
    assert r.status_code == 200 and "location" not in r.headers
    assert r.headers["cache-control"] == "no-store"
    form = re.search(r'<form method="post" action="([^"]+)" id="response">(.*?)</form>', r.text, re.S)
    assert form and unescape(form.group(1)) == REDIRECT_URI
    fields = [(n, unescape(v)) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                                       form.group(2))]
    assert [n for n, _ in fields] == ["code", "state", "iss"]
    assert dict(fields)["state"] == 's"<x>' and dict(fields)["iss"] == ISSUER
    assert '<x>' not in r.text  # escaped, never markup
    # The script that submits it runs under the page's nonce and nothing else.
    nonce = re.search(r"<script nonce=\"([^\"]+)\">", r.text)
    assert nonce and f"'nonce-{nonce.group(1)}'" in r.headers["content-security-policy"]
    # The client redeems the posted code as it would a redirected one.
    token = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": dict(fields)["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier})
    assert token.status_code == 200 and token.json()["id_token"]
