"""The admin API as a whole: its OpenAPI 3.1 document, and answers to malformed input and outages
(always `{"error": …, "detail": …}` JSON, never a 500)."""

from __future__ import annotations

import logging

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.idp.admin.operator import ADMIN, operator
from tests.idp.conftest import Idp
from tests.idp.flows import assertion_grant
from tests.idp.web.test_outages import Backends, Provider, backends, provider  # noqa: F401 - fixtures

# Every operation of the admin API, as the documentation and the CLI's `--server` promise them.
OPERATIONS = {
    ("/clients", "get"), ("/clients", "post"), ("/clients/{client_id}", "get"), ("/clients/{client_id}", "patch"),
    ("/clients/{client_id}", "delete"), ("/clients/{client_id}/rotate-secret", "post"),
    ("/clients/{client_id}/disable", "post"), ("/clients/{client_id}/enable", "post"),
    ("/clients/{client_id}/services", "get"), ("/clients/{client_id}/services/{scope}", "put"),
    ("/clients/{client_id}/services/{scope}", "delete"),
    ("/people", "get"), ("/people/{national_code}", "get"), ("/people/{national_code}/disable", "post"),
    ("/people/{national_code}/enable", "post"), ("/people/{national_code}/sign-out", "post"),
    ("/people/{national_code}/unlock", "post"),
    ("/entities/{national_id}", "get"), ("/entities/{national_id}/mandates", "post"),
    ("/entities/mandates/{representation_id}/revoke", "post"),
    ("/keys", "get"), ("/keys/rotate", "post"),
}


def test_the_openapi_document_is_3_1_and_documents_every_operation(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get(f"{ADMIN}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1.")
    assert doc["servers"] == [{"url": ADMIN}]
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == OPERATIONS
    flows = doc["components"]["securitySchemes"]["operatorToken"]["flows"]["clientCredentials"]
    assert flows["tokenUrl"] == "https://idp.test/token" and "idp.admin.read" in flows["scopes"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            [requirement] = op["security"]
            assert requirement["operatorToken"], (path, method)
            for status in ("400", "401", "403", "503"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
            assert "422" not in op["responses"], (path, method)
    changes = doc["paths"]["/clients/{client_id}/disable"]["post"]["security"][0]["operatorToken"]
    assert changes == ["idp.admin.clients"]
    reads = doc["paths"]["/clients"]["get"]["security"][0]["operatorToken"]
    assert reads == ["idp.admin.clients", "idp.admin.read"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/clients", b"{not json"),
    ("post", "/clients", b"[1, 2]"),
    ("post", "/clients", b'{"name": 5}'),
    ("post", "/clients", b'{"name": "x", "grant_typez": ["client_credentials"]}'),
    ("post", "/clients", b'{"name": "x", "min_level": "high"}'),
    ("post", "/clients", b'{"name": "x", "jwks": "not an object"}'),
    ("post", "/clients", b"\xff\xfe\x00"),
    ("post", "/clients", b""),
    ("patch", "/clients/portal", b'{"scopes": "openid"}'),
    ("post", "/clients/portal/rotate-secret", b'{"grace_hours": -1}'),
    ("post", "/clients/portal/rotate-secret", b'{"grace_hours": 1e400}'),
    ("put", "/clients/portal/services/tax.file", b"{}"),
    ("post", "/entities/10380284790/mandates", b'{"national_code": null}'),
    ("post", "/keys/rotate", b'{"alg": ["ES256"]}'),
])
def test_malformed_bodies_are_400_invalid_request(sqlite_idp: Idp, method: str, path: str, body: bytes) -> None:
    with operator(sqlite_idp) as api:
        r = api.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request" and r.json()["detail"].startswith("Malformed request")
    assert set(r.json()) == {"error", "detail"}


def test_a_body_over_the_limit_is_refused_before_it_is_read(sqlite_idp: Idp) -> None:
    with operator(sqlite_idp) as api:
        r = api.post("/clients", json={"name": "x" * 70_000})
        assert r.status_code == 413, r.text
        assert r.json()["error"] == "invalid_request" and set(r.json()) == {"error", "detail"}
        # Sent in chunks with no length announced: reading stops at the limit.
        chunks = iter([b'{"name": "', b"x" * 40_000, b"x" * 40_000, b'"}'])
        r = api.post("/clients", content=chunks, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"


def test_the_value_sent_is_never_echoed_in_an_error(sqlite_idp: Idp) -> None:
    with operator(sqlite_idp) as api:
        r = api.post("/clients", json={"name": "x", "min_level": "secret-0012345678"})
    assert r.status_code == 400 and "secret-0012345678" not in r.text
    assert "min_level" in r.json()["detail"]


def test_unknown_paths_and_methods_answer_in_the_same_shape(sqlite_idp: Idp) -> None:
    with operator(sqlite_idp) as api:
        r = api.get("/nothing-here")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = api.put("/clients")
        assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
        r = api.get("/clients/" + "x" * 300)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"


@pytest.mark.postgres
@pytest.mark.redis
def test_a_database_outage_is_503_with_retry_after(
        backends: Backends, provider: Provider, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    key = ECKey.generate_key("P-256", parameters={"kid": "ops-1", "alg": "ES256", "use": "sig"})
    admin = f"{provider.base_url}/admin/v1"
    provider.services.clients.create(
        client_id="ops", name="ops", redirect_uris=[], grant_types=["client_credentials"],
        scopes=["idp.admin.clients"], audiences=[admin], token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]})
    r = httpx.post(f"{provider.base_url}/token",
                   data={**assertion_grant(key, f"{provider.base_url}/token", "ops"), "resource": admin})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert httpx.get(f"{admin}/clients", headers=headers).status_code == 200
    caplog.clear()
    backends.proxy.cut()
    try:
        r = httpx.get(f"{admin}/clients", headers=headers, timeout=10)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "temporarily_unavailable" and r.json()["detail"]
        assert int(r.headers["retry-after"]) >= 1
        r = httpx.post(f"{admin}/clients/portal/disable", headers=headers, timeout=10)
        assert r.status_code == 503
        assert not [rec for rec in caplog.records if rec.exc_info and rec.levelno >= logging.ERROR]
    finally:
        backends.proxy.restore()
