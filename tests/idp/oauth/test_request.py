"""Reading parameters from HTTP (`idp.oauth.request`): only url-encoded UTF-8 forms, without control
characters, within the number and size every endpoint allows."""

from __future__ import annotations

from tests.idp.conftest import Idp


def test_token_endpoint_rejects_json_and_garbage_bodies(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.post("/token", content=b'{"grant_type": "client_credentials"}',
                                headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = sqlite_idp.browser.post("/token", content=b"\xff\xfe\x00garbage",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def _token_error(idp: Idp, body: bytes) -> str:
    """The error_description the token endpoint answers a url-encoded `body` with (400 invalid_request)."""
    r = idp.browser.post("/token", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    return str(r.json()["error_description"])


def test_control_characters_and_odd_keywords_are_refused_before_any_grant_runs(sqlite_idp: Idp) -> None:
    auth = f"client_id=portal&client_secret={sqlite_idp.portal_secret}".encode()
    assert "control characters" in _token_error(sqlite_idp, b"grant_type=client_credentials&scope=a%0Ab&" + auth)
    assert "control characters" in _token_error(sqlite_idp, b"grant_type=client_credentials&sc%7Fope=a&" + auth)
    # A protocol keyword is echoed in error descriptions, which RFC 6749 keeps to printable ASCII.
    refused = _token_error(sqlite_idp, b"grant_type=client_%C3%A9redentials&" + auth)
    assert refused == "The grant_type parameter has characters that are not allowed."
    assert "\u00e9" not in refused
    assert _token_error(sqlite_idp, b'grant_type=%22x%22&' + auth).endswith("characters that are not allowed.")


def test_too_many_parameters_or_too_large_a_body_is_refused(sqlite_idp: Idp) -> None:
    many = "&".join(f"p{n}=v" for n in range(101)).encode()
    assert _token_error(sqlite_idp, many) == "Too many parameters."
    # A hundred are read: the request gets as far as the grant type.
    hundred = "&".join(f"p{n}=v" for n in range(99)).encode() + b"&grant_type=nonsense"
    r = sqlite_idp.browser.post("/token", content=hundred,
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    huge = b"grant_type=client_credentials&other=" + b"x" * (64 * 1024)
    assert _token_error(sqlite_idp, huge) == "Request body too large."


def test_parameters_may_come_only_in_a_post_body(sqlite_idp: Idp) -> None:
    """RFC 6749 §3.2: the token endpoint takes a POST; parameters in the query are not read."""
    r = sqlite_idp.browser.post(f"/token?grant_type=client_credentials&client_id=portal"
                                f"&client_secret={sqlite_idp.portal_secret}")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert r.json()["error_description"] == "Send parameters as application/x-www-form-urlencoded."
