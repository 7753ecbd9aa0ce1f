"""RP-initiated logout (OIDC RP-Initiated Logout 1.0)."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.idp.conftest import REDIRECT_URI, Idp, pkce_pair
from tests.idp.flows import user_tokens

SIGNED_OUT = "https://portal.example/signed-out"


def _prompt_none(idp: Idp) -> str:
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "none"}
    return idp.browser.get(f"/authorize?{urlencode(params)}").headers["location"]


def test_logout_with_id_token_hint_ends_the_session_and_returns_to_the_client(idp: Idp) -> None:
    tokens = user_tokens(idp, scope="openid")
    assert "code=" in _prompt_none(idp)
    r = idp.browser.get("/end_session?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": SIGNED_OUT, "state": "bye"}))
    assert r.status_code == 302 and r.headers["location"] == SIGNED_OUT + "?state=bye"
    assert "error=login_required" in _prompt_none(idp)
    [ended] = idp.services.audit.recent(kind="session.ended")
    assert ended.detail["reason"] == "rp_logout" and ended.person_id == idp.person_id


def test_logout_without_hint_asks_for_confirmation_first(idp: Idp) -> None:
    user_tokens(idp, scope="openid")
    r = idp.browser.get("/end_session?client_id=portal&lang=en")
    assert r.status_code == 200 and "Do you want to sign out" in r.text
    assert "code=" in _prompt_none(idp)  # nothing happened yet
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    done = idp.browser.post("/end_session", data={"client_id": "portal", "confirm": "yes", "csrf_token": csrf})
    assert done.status_code == 200 and "error=login_required" in _prompt_none(idp)


def test_confirmation_without_csrf_token_does_not_sign_out(sqlite_idp: Idp) -> None:
    user_tokens(sqlite_idp, scope="openid")
    r = sqlite_idp.browser.post("/end_session", data={"client_id": "portal", "confirm": "yes"})
    assert r.status_code == 200 and "csrf_token" in r.text
    assert "code=" in _prompt_none(sqlite_idp)


def test_unregistered_post_logout_redirect_uri_is_never_followed(sqlite_idp: Idp) -> None:
    tokens = user_tokens(sqlite_idp, scope="openid")
    r = sqlite_idp.browser.get("/end_session?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}))
    assert r.status_code == 200 and "evil.example" not in r.headers.get("location", "")


def test_forged_id_token_hint_is_an_error_page(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/end_session?" + urlencode({
        "id_token_hint": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "post_logout_redirect_uri": SIGNED_OUT}))
    assert r.status_code == 400 and "location" not in r.headers
