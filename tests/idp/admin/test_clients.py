"""`/admin/v1/clients`: what an operator does to the client registry over HTTP takes effect for the
clients themselves at the token endpoint, and the audit log names the operator client."""

from __future__ import annotations

import httpx

from tests.idp.admin.operator import actors, operator
from tests.idp.conftest import Idp


def _machine_token(idp: Idp, client_id: str, secret: str) -> httpx.Response:
    return idp.browser.post("/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_a_client_created_through_the_api_gets_a_token_with_the_secret_shown_once(idp: Idp) -> None:
    with operator(idp) as api:
        r = api.post("/clients", json={
            "client_id": "inquiry", "name": "Inquiry back end", "grant_types": ["client_credentials"],
            "scopes": ["openid"], "audiences": ["https://api.example"], "redirect_uris": []})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["client"]["client_id"] == "inquiry" and body["client"]["has_secret"] is True
        secret = body["client_secret"]
        assert secret and "only once" in body["note"]
        shown = api.get("/clients/inquiry").json()
        assert shown["name"] == "Inquiry back end" and "client_secret" not in shown
    token = _machine_token(idp, "inquiry", secret)
    assert token.status_code == 200, token.text
    assert actors(idp, "client.created")[-1] == "client:ops"


def test_update_rotate_disable_enable_delete(idp: Idp) -> None:
    with operator(idp) as api:
        secret = api.post("/clients", json={
            "client_id": "m2m", "name": "M2M", "grant_types": ["client_credentials"],
            "audiences": ["https://api.example"]}).json()["client_secret"]
        r = api.patch("/clients/m2m", json={"name": "Renamed", "logo_uri": "https://m2m.example/logo.png"})
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "Renamed" and r.json()["logo_uri"] == "https://m2m.example/logo.png"
        r = api.patch("/clients/m2m", json={"logo_uri": None})
        assert r.json()["logo_uri"] is None
        # A rotation with a grace period: both secrets work until it ends.
        r = api.post("/clients/m2m/rotate-secret", json={"grace_hours": 2})
        assert r.status_code == 200, r.text
        new = r.json()["client_secret"]
        assert r.json()["old_secret_works_for_hours"] == 2
        assert _machine_token(idp, "m2m", secret).status_code == 200
        assert _machine_token(idp, "m2m", new).status_code == 200
        # Without one (no body at all), the previous secret stops at once.
        newest = api.post("/clients/m2m/rotate-secret").json()["client_secret"]
        assert _machine_token(idp, "m2m", new).status_code == 401
        r = api.post("/clients/m2m/disable")
        assert r.status_code == 200 and r.json()["enabled"] is False
        assert _machine_token(idp, "m2m", newest).status_code == 401
        assert api.post("/clients/m2m/enable").json()["enabled"] is True
        assert _machine_token(idp, "m2m", newest).status_code == 200
        r = api.delete("/clients/m2m")
        assert r.json() == {"client_id": "m2m", "deleted": True}
        r = api.get("/clients/m2m")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert api.delete("/clients/m2m").status_code == 404
    for kind in ("client.updated", "client.secret_rotated", "client.disabled", "client.enabled", "client.deleted"):
        assert actors(idp, kind)[-1] == "client:ops", kind


def test_the_registry_rules_answer_400_or_409_with_the_reason(idp: Idp) -> None:
    with operator(idp) as api:
        r = api.post("/clients", json={"name": "Typo", "scopes": ["opneid"]})
        assert r.status_code == 400 and "did you mean 'openid'" in r.json()["detail"]
        r = api.post("/clients", json={"name": "New", "scopes": ["openid"], "new_scopes": ["tax.inquiry"],
                                       "redirect_uris": ["https://new.example/cb"]})
        assert r.status_code == 201 and "tax.inquiry" in r.json()["client"]["scopes"]
        r = api.post("/clients", json={"client_id": "portal", "name": "Again",
                                       "redirect_uris": ["https://x.example/cb"]})
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        r = api.patch("/clients/portal", json={"redirect_uris": ["http://insecure.example/cb"]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        r = api.patch("/clients/portal", json={})
        assert r.status_code == 400 and "Nothing to change" in r.json()["detail"]
        r = api.patch("/clients/portal", json={"name": None})
        assert r.status_code == 400
        assert api.patch("/clients/nobody", json={"name": "x"}).status_code == 404
        # A client with no secret: no secret to rotate.
        r = api.post("/clients/ops/rotate-secret")
        assert r.status_code == 400 and "does not use a client secret" in r.json()["detail"]


def test_a_clients_services(idp: Idp) -> None:
    with operator(idp) as api:
        assert api.get("/clients/portal/services").json() == []
        r = api.put("/clients/portal/services/tax.file", json={"min_level": 2, "name_en": "File a tax return"})
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "tax.file" and r.json()["min_level"] == 2
        # Put again: replaced, not added.
        api.put("/clients/portal/services/tax.file", json={"min_level": 3})
        listed = api.get("/clients/portal/services").json()
        assert [(s["scope"], s["min_level"]) for s in listed] == [("tax.file", 3)]
        assert "tax.file" in api.get("/clients/portal").json()["scopes"]
        assert api.put("/clients/portal/services/tax.file", json={"min_level": 9}).status_code == 400
        assert api.put("/clients/portal/services/openid", json={"min_level": 1}).status_code == 400
        # An admin scope is never a service: adding one would hand the portal that scope.
        r = api.put("/clients/portal/services/idp.admin.clients", json={"min_level": 1})
        assert r.status_code == 400 and "provider's own scopes" in r.json()["detail"]
        assert "idp.admin.clients" not in api.get("/clients/portal").json()["scopes"]
        assert api.put("/clients/nobody/services/tax.file", json={"min_level": 1}).status_code == 404
        r = api.delete("/clients/portal/services/tax.file")
        assert r.json() == {"client_id": "portal", "scope": "tax.file", "removed": True}
        assert api.delete("/clients/portal/services/tax.file").status_code == 404
        assert api.get("/clients/nobody/services").status_code == 404
    assert actors(idp, "client.service_added")[-1] == "client:ops"
    assert actors(idp, "client.service_removed")[-1] == "client:ops"
