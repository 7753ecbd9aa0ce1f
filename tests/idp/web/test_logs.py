"""Structured logs: every line a JSON object with the request's id, route, status and duration; the
request id taken from `X-Request-ID` when sane and echoed back; and, over a whole realistic run
logged at DEBUG, not one national code, name, mobile number, password, one-time code, token or
secret in the output."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from idp.logs import JsonFormatter, TextFormatter, dict_config
from tests.idp.conftest import ISSUER, PASSWORD, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_login, submit_step

L2 = "urn:idp:loa:2"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged, as a server started at IDP_LOG_LEVEL=DEBUG writes it (JSON lines; the levels
    `idp.logs.dict_config` gives a few libraries' loggers: httpx, which here is also the test's own
    HTTP client, and SQLAlchemy's statement log)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    quiet = {name: conf["level"] for name, conf in dict_config("json", "DEBUG")["loggers"].items()}
    saved = {name: logging.getLogger(name).level for name in [*quiet, ""]}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def logged(make_idp) -> Idp:  # type: ignore[no-untyped-def]
    """A provider with its access log on (IDP_ACCESS_LOG), on each pair of backends."""
    return make_idp(access_log=True)  # type: ignore[no-any-return]


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def access_lines(out: io.StringIO) -> list[dict[str, object]]:
    return [line for line in lines(out) if line["event"] == "http.request"]


def _authorize_url(challenge: str, **extra: str) -> str:
    query = httpx.QueryParams({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI,
        "scope": "openid profile phone offline_access", "state": "state-Zq81", "nonce": "nonce-Pw72",
        "code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "en", **extra})
    return f"{ISSUER}/authorize?{query}"


def test_a_whole_run_logs_no_personal_data_token_or_secret(logged: Idp, captured: io.StringIO) -> None:
    logged.set_tier(2)
    person = logged.services.people.get(logged.person_id)
    assert person is not None
    # A failed sign-in, in a browser of its own.
    other = logged.new_browser()
    page = other.get(other.get(_authorize_url(pkce_pair()[1])).headers["location"])
    wrong_password = "Wrong-Guess-417"
    assert submit_login(other, page.text, logged.national_code, wrong_password).status_code == 400
    # Password, then the SMS code (level 2).
    verifier, challenge = pkce_pair()
    step = sign_in(logged.browser, _authorize_url(challenge, acr_values=L2), logged.national_code)
    sms_code = logged.last_sms_code()
    done = submit_step(logged.browser, step.text, code=sms_code)
    assert done.status_code == 303
    location = logged.browser.get(done.headers["location"]).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    tokens = logged.browser.post("/token", auth=("portal", logged.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier}).json()
    refreshed = logged.browser.post("/token", auth=("portal", logged.portal_secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert "access_token" in refreshed
    info = logged.browser.get("/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert info.status_code == 200 and info.json()["given_name"] == person.given_name
    # A refused refresh (the old token, already rotated) and a wrong client secret.
    assert logged.browser.post("/token", auth=("portal", logged.portal_secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).status_code == 400
    assert logged.browser.post("/token", auth=("portal", "wrong-secret-value"), data={
        "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]}).status_code == 401
    # The account pages.
    for path in ("/account", "/account/sessions", "/account/security", "/account/services", "/account/history",
                 "/account/profile", "/account/companies"):
        assert logged.browser.get(path).status_code in (200, 303, 404), path
    # The logout with an id_token_hint.
    logged.browser.get("/end_session", params={"id_token_hint": refreshed["id_token"], "client_id": "portal"})

    text = captured.getvalue()
    assert "http.request" in text and "login.succeeded" in text  # the run was logged
    secrets_ = {
        "national code": logged.national_code, "given name": person.given_name, "family name": person.family_name,
        "mobile": "9121234567", "password": PASSWORD, "wrong password": wrong_password, "SMS code": sms_code,
        "authorization code": code, "access token": tokens["access_token"], "id token": tokens["id_token"],
        "refresh token": tokens["refresh_token"], "new access token": refreshed["access_token"],
        "new refresh token": refreshed["refresh_token"], "client secret": logged.portal_secret,
        "wrong client secret": "wrong-secret-value", "state": "state-Zq81", "nonce": "nonce-Pw72",
        "PKCE verifier": verifier,
    }
    for what, value in secrets_.items():
        assert value not in text, f"the {what} is in the logs"
    # No query string at all: the lines carry the path only.
    assert not any("?" in str(line.get("path", "")) for line in lines(captured))


def test_each_line_is_json_with_the_request_fields(logged: Idp, captured: io.StringIO) -> None:
    verifier, challenge = pkce_pair()
    location = sign_in(logged.browser, _authorize_url(challenge), logged.national_code).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    r = logged.browser.post("/token", auth=("portal", logged.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 200
    every = lines(captured)  # each line parsed as JSON, or the test fails here
    assert every
    time_format = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    for line in every:
        assert time_format.fullmatch(str(line["time"])) and line["level"] and line["event"]
    for line in access_lines(captured):
        assert {"request_id", "route", "status", "duration_ms", "method", "path"} <= set(line)
        assert float(line["duration_ms"]) >= 0  # type: ignore[arg-type]
    token = [line for line in access_lines(captured) if line["route"] == "/token"]
    assert token and token[-1]["status"] == 200 and token[-1]["client_id"] == "portal"
    login = [line for line in access_lines(captured) if line["route"] == "/login" and line["method"] == "POST"]
    assert login and login[-1]["client_id"] == "portal" and login[-1]["status"] == 303
    # What the app logged while serving a request carries that request's id and route.
    audit = [line for line in every if line["event"] == "audit" and line.get("kind") == "login.succeeded"]
    assert audit and audit[-1]["request_id"] == login[-1]["request_id"] and audit[-1]["route"] == "/login"


def test_an_unknown_path_is_logged_by_its_path_under_a_fixed_route(logged: Idp, captured: io.StringIO) -> None:
    logged.browser.get("/nothing/here?token=abc")
    (line,) = access_lines(captured)
    assert line["route"] == "unmatched" and line["path"] == "/nothing/here" and line["status"] == 404
    assert "abc" not in captured.getvalue()


@pytest.mark.parametrize("given", ["req-7f3a.9:x", "a" * 128, "Zm9vYmFy+/="])
def test_a_sane_request_id_is_kept_and_echoed(logged: Idp, captured: io.StringIO, given: str) -> None:
    r = logged.browser.get("/.well-known/openid-configuration", headers={"X-Request-ID": given})
    assert r.headers["x-request-id"] == given
    (line,) = access_lines(captured)
    assert line["request_id"] == given and line["route"] == "/.well-known/openid-configuration"


@pytest.mark.parametrize("given", ["a" * 129, "has space", "quote\"d", "new\\nline", "", "semi;colon"])
def test_a_request_id_that_is_not_a_sane_token_is_replaced(logged: Idp, captured: io.StringIO,
                                                            given: str) -> None:
    r = logged.browser.get("/account", headers={"X-Request-ID": given})
    echoed = r.headers["x-request-id"]
    assert echoed != given and re.fullmatch(r"[0-9a-f]{24}", echoed)
    (line,) = access_lines(captured)
    assert line["request_id"] == echoed


def test_without_a_request_id_each_request_gets_its_own(logged: Idp) -> None:
    ids = {logged.browser.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_the_text_format_is_one_readable_line(logged: Idp) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter())
    access = logging.getLogger("idp.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        logged.browser.get("/jwks", headers={"X-Request-ID": "abc-123"})
    finally:
        access.removeHandler(handler)
        access.setLevel(logging.NOTSET)
    (line,) = out.getvalue().splitlines()
    assert re.fullmatch(r"\S+Z INFO +http\.request .*request_id=abc-123 route=/jwks .*status=200 .*", line), line



def test_a_path_with_a_national_code_is_logged_by_its_route_only(logged: Idp, captured: io.StringIO) -> None:
    r = logged.browser.post(f"/admin/v1/people/{logged.national_code}/disable")  # no token: refused
    assert r.status_code == 401
    (line,) = access_lines(captured)
    assert line["route"] == "/admin/v1/people/{national_code}/disable" and line["status"] == 401
    assert line["path"] is None and logged.national_code not in captured.getvalue()
    logged.browser.get("/.well-known/openid-configuration")
    assert access_lines(captured)[-1]["path"] == "/.well-known/openid-configuration"  # no parameter: kept
