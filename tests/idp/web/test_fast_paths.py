"""The endpoints served ahead of the framework (`idp.web.fast_paths`): discovery and JWKS as
cacheable public documents, health checks, the back-channel posts; everything else falls through."""

from __future__ import annotations

from tests.idp.conftest import ISSUER, Idp


def test_discovery_and_jwks_are_public_cacheable_json_for_get_and_head(idp: Idp) -> None:
    for path in ("/.well-known/openid-configuration", "/jwks"):
        r = idp.browser.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", path
        assert r.headers["cache-control"] == "public, max-age=300"
        assert r.headers["access-control-allow-origin"] == "*"  # single-page apps read them too
        assert int(r.headers["content-length"]) == len(r.content) and r.json()
        head = idp.browser.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == r.headers["content-length"]
    assert idp.browser.get("/.well-known/openid-configuration").json()["issuer"] == ISSUER


def test_other_methods_and_paths_reach_the_application(sqlite_idp: Idp) -> None:
    # Only GET and HEAD are the documents, only POST the back-channel endpoints, only the exact
    # paths: anything else is the application's, which has no such route.
    for method, path in (("POST", "/jwks"), ("GET", "/jwks/"), ("GET", "/token"), ("POST", "/healthz")):
        r = sqlite_idp.browser.request(method, path)
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}, (method, path)
    r = sqlite_idp.browser.post("/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
