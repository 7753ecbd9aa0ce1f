"""`/admin/v1/entities`: an entity with its representations; a mandate granted over HTTP is the one
the domain (and so the "Act as" chooser and the CLI) sees; revoking it ends it there."""

from __future__ import annotations

from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from levels.iranian_input import make_national_code, make_national_id
from tests.idp.admin.operator import actors, operator
from tests.idp.conftest import Idp

ACME = make_national_id("1038028479")


def _import_acme(idp: Idp) -> None:
    ceo = RegistryOfficer(make_national_code("005555555"), "ceo", frozenset({"*", "delegate"}), None, None)
    idp.services.acting.entities.import_registry(
        [RegistryEntity(ACME, "Acme Trading Co", "private_joint_stock", EntityStatus.ACTIVE, None, (ceo,), line=1)],
        actor="test")


def test_grant_and_revoke_a_mandate(idp: Idp) -> None:
    _import_acme(idp)
    with operator(idp) as api:
        shown = api.get(f"/entities/{ACME}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["entity"]["name"] == "Acme Trading Co"
        assert [r["role"] for r in shown.json()["representations"]] == ["ceo"]
        r = api.post(f"/entities/{ACME}/mandates", json={
            "national_code": idp.national_code, "role": "accountant", "powers": ["tax.file"],
            "valid_until": "2099-12-31"})
        assert r.status_code == 201, r.text
        rep = r.json()
        assert rep["national_code"] == idp.national_code and rep["powers"] == ["tax.file"]
        assert rep["granted_by"] == "client:ops" and rep["valid_until"] == "2099-12-31"
        [mandate] = idp.services.acting.entities.mandates_of(idp.national_code)
        assert mandate.representation.id == rep["id"] and mandate.entity.national_id == ACME
        assert len(api.get(f"/entities/{ACME}").json()["representations"]) == 2

        r = api.post(f"/entities/mandates/{rep['id']}/revoke", json={"reason": "left the company"})
        assert r.json() == {"id": rep["id"], "revoked": [rep["id"]], "already_revoked": False}
        assert idp.services.acting.entities.mandates_of(idp.national_code) == []
        again = api.post(f"/entities/mandates/{rep['id']}/revoke")
        assert again.json()["already_revoked"] is True
        ended = api.get(f"/entities/{ACME}", params={"include_ended": "true"}).json()["representations"]
        assert any(r["id"] == rep["id"] and r["revoked_at"] for r in ended)
    assert actors(idp, "representation.granted")[-1] == "client:ops"
    assert actors(idp, "representation.revoked")[-1] == "client:ops"


def test_bad_and_unknown_input(idp: Idp) -> None:
    _import_acme(idp)
    with operator(idp) as api:
        assert api.get(f"/entities/{make_national_id('1410022233')}").status_code == 404
        assert api.get("/entities/123").status_code == 400
        grant = {"national_code": idp.national_code, "role": "accountant", "powers": ["tax.file"]}
        assert api.post("/entities/123/mandates", json=grant).status_code == 400
        assert api.post(f"/entities/{ACME}/mandates", json={**grant, "powers": []}).status_code == 400
        assert api.post(f"/entities/{ACME}/mandates", json={**grant, "role": "Chief Exec!"}).status_code == 400
        assert api.post(f"/entities/{ACME}/mandates", json={**grant, "national_code": "12"}).status_code == 400
        r = api.post(f"/entities/{ACME}/mandates", json={**grant, "valid_until": "2001-01-01"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        assert api.post(f"/entities/{ACME}/mandates", json={**grant, "valid_until": "soon"}).status_code == 400
        r = api.post("/entities/mandates/nope/revoke")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    with operator(idp, "reader", scopes=["idp.admin.read"]) as reader:
        assert reader.get(f"/entities/{ACME}").status_code == 200
        assert reader.post(f"/entities/{ACME}/mandates", json=grant).status_code == 403
