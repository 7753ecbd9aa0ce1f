"""Bounded input (`idp.web.input_limits`): each parameter has its limit, wherever it is sent. A value
over it, or a parameter sent twice, is `invalid_request` naming it; nothing oversized is stored,
echoed to a page or a client, or answered with a 500."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from idp.errors import InvalidRequestError
from idp.web.input_limits import (
    AUTHORIZATION_PARAMETERS,
    LIMITS,
    MAX_AUTHORIZATION_REQUEST,
    check,
    violations,
)
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, REDIRECT_URI, TX_RE, Idp, sign_in, submit_login
from tests.idp.flows import authorization_params, error_at_client, stored_sizes

HUGE = "x" * 30_000


# -- the authorization request: nothing oversized is stored or echoed ------------------------------

def test_a_sign_in_stores_its_request_while_the_person_signs_in(idp: Idp) -> None:
    """What the tests below measure: an acceptable request does store its parameters."""
    before = stored_sizes(idp)
    r = idp.browser.get("/authorize?" + urlencode(authorization_params(state="s" * 2000)))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    assert sum(stored_sizes(idp).values()) - sum(before.values()) > 2000


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint"])
def test_an_oversized_value_is_refused_and_nothing_isstored_sizes(idp: Idp, name: str) -> None:
    before = stored_sizes(idp)
    params = authorization_params(**{name: HUGE})
    for r in (idp.browser.get("/authorize?" + urlencode(params)), idp.browser.post("/authorize", data=params)):
        error = error_at_client(r)
        assert error["error"] == "invalid_request"
        assert f"The {name} parameter is too long" in error["error_description"]
        assert error["iss"] == ISSUER
        # The oversized state is not echoed; a state within its limit is.
        assert error.get("state") == (None if name == "state" else "s")
        assert HUGE not in r.headers["location"]
    assert stored_sizes(idp) == before


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_an_oversized_client_id_or_redirect_uri_gets_an_error_page(idp: Idp, name: str) -> None:
    before = stored_sizes(idp)
    value = "portal" + "x" * 200 if name == "client_id" else REDIRECT_URI + "?" + "x" * 3000
    r = idp.browser.get("/authorize?" + urlencode({**authorization_params(**{name: value}), "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert f"The {name} parameter is too long" in r.text
    assert stored_sizes(idp) == before


def test_a_request_too_large_in_all_is_refused(idp: Idp) -> None:
    before = stored_sizes(idp)
    # Each value within its own limit, together over MAX_AUTHORIZATION_REQUEST.
    params = authorization_params(state="s" * 2000, claims='{"userinfo": {"x": "' + "y" * 4000 + '"}}',
                            id_token_hint="h" * 3000)
    error = error_at_client(idp.browser.get("/authorize?" + urlencode(params)))
    assert error["error"] == "invalid_request" and "too large" in error["error_description"]
    assert error["state"] == "s" * 2000
    assert stored_sizes(idp) == before


def test_unknown_parameters_are_ignored_and_notstored_sizes(idp: Idp) -> None:
    r = idp.browser.get("/authorize?" + urlencode({**authorization_params(), "tracking": "t" * 40_000}))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    assert max(stored_sizes(idp).values()) < 2000


def test_duplicated_parameters_are_invalid_request(idp: Idp) -> None:
    before = stored_sizes(idp)
    for name in ["nonce", "state", "code_challenge", "prompt", "max_age", "claims", "response_type"]:
        pairs = list(authorization_params(prompt="login", max_age="60", claims="{}").items())
        pairs.append((name, dict(pairs)[name]))
        error = error_at_client(idp.browser.get("/authorize?" + urlencode(pairs)))
        assert error["error"] == "invalid_request", name
        assert error["error_description"] == f"The {name} parameter must not be included more than once."
        # Which of two states would the client expect back? Neither is echoed.
        assert error.get("state") == (None if name == "state" else "s")
    for name in ["client_id", "redirect_uri"]:  # the client or its redirect URI is in doubt: a page
        pairs = list(authorization_params().items())
        pairs.append((name, dict(pairs)[name]))
        r = idp.browser.get("/authorize?" + urlencode([*pairs, ("lang", "en")]))
        assert r.status_code == 400 and "location" not in r.headers
        assert f"The {name} parameter must not be included more than once." in r.text
    assert stored_sizes(idp) == before


# -- token, introspection and revocation ------------------------------------------------------------

def test_malformed_code_verifier_does_not_use_up_the_code(idp: Idp) -> None:
    verifier = "k" * 64
    oauth = idp.oauth()
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    auth = {"Authorization": "Basic " + base64.b64encode(f"portal:{idp.portal_secret}".encode()).decode()}
    for bad in ["short", "k" * 129, "k" * 60 + "+/=!"]:
        r = idp.browser.post("/token", headers=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
        assert "code_verifier" in r.json()["error_description"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    assert token["access_token"] and token["id_token"]


def test_oversized_back_channel_parameters_are_invalid_request(idp: Idp) -> None:
    for path, name, size in [
        ("/token", "code", 200), ("/token", "refresh_token", 200), ("/token", "scope", 3000),
        ("/token", "resource", 3000), ("/token", "client_assertion", 9000), ("/token", "redirect_uri", 3000),
        ("/introspect", "token", 9000), ("/revoke", "token", 9000), ("/revoke", "token_type_hint", 100),
    ]:
        data = {"grant_type": "refresh_token", "client_id": "portal", "client_secret": idp.portal_secret,
                name: "a" * size}
        r = idp.browser.post(path, data=data)
        assert r.status_code == 400, (path, name, r.text)
        assert r.json()["error"] == "invalid_request"
        assert f"The {name} parameter is too long" in r.json()["error_description"], (path, name)


def test_duplicated_back_channel_parameters_are_invalid_request(idp: Idp) -> None:
    r = idp.browser.post("/token", content=f"grant_type=client_credentials&grant_type=refresh_token"
                                           f"&client_id=portal&client_secret={idp.portal_secret}".encode(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "grant_type" in r.json()["error_description"]


# -- our own forms ---------------------------------------------------------------------------------

def test_an_oversized_sign_in_field_is_refused_and_the_sign_in_goes_on(idp: Idp) -> None:
    r = idp.browser.get("/authorize?" + urlencode(authorization_params()))
    page = idp.browser.get(r.headers["location"] + "&lang=en")
    csrf = CSRF_RE.search(page.text)
    tx = TX_RE.search(page.text)
    assert csrf and tx
    for field, value in [("password", "p" * 1025), ("national_code", "1" * 33), ("csrf_token", "c" * 129)]:
        form = {"csrf_token": csrf.group(1), "tx": tx.group(1), "national_code": idp.national_code,
                "password": PASSWORD, field: value}
        refused = idp.browser.post("/login", data=form)
        assert refused.status_code == 400 and f"The {field} parameter is too long" in refused.text
    done = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert done.status_code == 303


def test_oversized_fields_of_the_other_sign_in_registration_and_recovery_forms_are_refused(idp: Idp) -> None:
    for path, field in [("/register", "mobile"), ("/register", "password"), ("/recover", "birthdate"),
                        ("/recover/verify", "code"), ("/login/step", "code"), ("/login/consent", "decision")]:
        r = idp.browser.post(path + "?lang=en", data={"csrf_token": "x", field: "1" * 1100})
        assert r.status_code == 400 and f"The {field} parameter is too long" in r.text, (path, field)


def test_an_oversized_account_form_field_changes_nothing(idp: Idp) -> None:
    r = idp.browser.get("/account")
    login = idp.browser.get(r.headers["location"])
    assert submit_login(idp.browser, login.text, idp.national_code, PASSWORD).status_code == 303
    page = idp.browser.get("/account/security")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = idp.browser.post("/account/password?lang=en", data={
        "csrf_token": csrf.group(1), "current_password": PASSWORD, "new_password": "n" * 1025})
    assert r.status_code == 400 and "The new_password parameter is too long" in r.text
    # The password is the one it was.
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)


def test_sign_out_confirmation_echoes_only_bounded_logout_parameters(idp: Idp) -> None:
    r = idp.browser.get("/end_session?" + urlencode({"client_id": "portal", "state": "s" * 3000}))
    assert r.status_code == 400 and "The state parameter is too long" in r.text
    r = idp.browser.get("/end_session?" + urlencode({"client_id": "portal", "state": "s", "other": "<o>" * 100}))
    assert r.status_code == 200
    assert 'name="state" value="s"' in r.text and 'name="other"' not in r.text


# -- the table itself ----------------------------------------------------------------------------

def test_a_value_at_its_limit_passes_and_one_character_more_is_refused_naming_the_limit() -> None:
    assert violations([("state", "s" * 2048), ("nonce", "n" * 512)]) == {}
    assert violations([("state", "s" * 2049), ("nonce", "n" * 513)]) == {
        "state": "The state parameter is too long (at most 2048 characters).",
        "nonce": "The nonce parameter is too long (at most 512 characters).",
    }


def test_names_outside_the_table_are_not_limited_here() -> None:
    assert violations([("tracking", "t" * 100_000), ("tracking", "again")]) == {}


def test_only_repeatable_parameters_may_come_twice() -> None:
    assert violations([("resource", "https://a.example"), ("resource", "https://b.example"),
                       ("power", "sign"), ("power", "pay")]) == {}
    assert violations([("scope", "openid"), ("scope", "openid")]) == {
        "scope": "The scope parameter must not be included more than once."}


def test_a_code_verifier_must_have_the_shape_rfc_7636_gives_it() -> None:
    assert violations([("code_verifier", "k" * 43)]) == {}
    assert violations([("code_verifier", "A-z0._~" * 18)]) == {}  # 126 characters of the allowed set
    for bad in ("k" * 42, "k" * 60 + "+", "k" * 50 + " "):
        assert violations([("code_verifier", bad)]) == {
            "code_verifier": "The code_verifier parameter must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~."}
    assert violations([("code_verifier", "")]) == {}  # absent: the grant says it is missing


def test_check_passes_good_pairs_through_and_refuses_with_the_first_problem() -> None:
    pairs = [("grant_type", "refresh_token"), ("refresh_token", "r")]
    assert check(pairs) == pairs
    with pytest.raises(InvalidRequestError) as refused:
        check([("code", "c" * 129), ("state", "s" * 3000)])
    assert refused.value.error == "invalid_request"
    assert refused.value.description == "The code parameter is too long (at most 128 characters)."


def test_every_parameter_the_authorization_endpoint_keeps_has_a_limit() -> None:
    """The authorization request is kept while the person signs in: none of it may be unbounded."""
    assert LIMITS.keys() >= AUTHORIZATION_PARAMETERS
    assert sum(LIMITS[name].max_chars for name in AUTHORIZATION_PARAMETERS
               if name not in ("request", "request_uri", "registration")) > MAX_AUTHORIZATION_REQUEST
