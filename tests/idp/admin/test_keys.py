"""`/admin/v1/keys`: the keys /jwks publishes, and a rotation the next token is signed after."""

from __future__ import annotations

from tests.idp.admin.operator import actors, operator
from tests.idp.conftest import Idp


def test_list_and_rotate_keys(idp: Idp) -> None:
    with operator(idp) as api:
        before = api.get("/keys").json()
        active = [k["kid"] for k in before if k["state"] == "active" and k["alg"] == "ES256"]
        upcoming = [k["kid"] for k in before if k["state"] == "next" and k["alg"] == "ES256"]
        assert active and upcoming
        published = {k["kid"] for k in idp.browser.get("/jwks").json()["keys"]}
        assert {k["kid"] for k in before} <= published
        r = api.post("/keys/rotate", json={"alg": "ES256"})
        assert r.status_code == 200, r.text
        assert r.json()["activated"] == upcoming[0] and r.json()["retired"] == active
        assert r.json()["created_next"]
        after = {k["kid"]: k["state"] for k in api.get("/keys").json()}
        assert after[upcoming[0]] == "active" and after[active[0]] == "retired"
        assert api.post("/keys/rotate", json={"alg": "HS256"}).status_code == 400
        # The token already held still works: the retired key stays published.
        assert api.get("/keys").status_code == 200
    assert actors(idp, "keys.rotated") == ["client:ops"]
