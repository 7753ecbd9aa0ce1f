"""The userinfo endpoint (`idp.oauth.userinfo`, OIDC Core §5.3): the claims of the token's scopes,
for a person who is still active, to a caller that sends the token as a Bearer token."""

from __future__ import annotations

from sqlalchemy import update

from levels.store_sql import PersonRow
from tests.idp.conftest import Idp
from tests.idp.flows import user_tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_openid_alone_says_who_and_how_but_nothing_about_the_person(idp: Idp) -> None:
    token = user_tokens(idp, scope="openid")["access_token"]
    r = idp.browser.get("/userinfo", headers=_bearer(token))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert isinstance(body.pop("auth_time"), int)
    assert body == {"sub": idp.person_id, "acr": "urn:idp:loa:1", "amr": ["pwd"]}


def test_the_phone_scope_releases_the_mobile_only_while_it_is_verified(sqlite_idp: Idp) -> None:
    token = user_tokens(sqlite_idp, scope="openid phone")["access_token"]
    body = sqlite_idp.browser.post("/userinfo", headers=_bearer(token)).json()
    assert body["phone_number"] == "+989121234567" and body["phone_number_verified"] is True
    sqlite_idp.services.people.set_mobile(sqlite_idp.person_id, "+989121234567", verified=False)
    body = sqlite_idp.browser.get("/userinfo", headers=_bearer(token)).json()
    assert "phone_number" not in body and "phone_number_verified" not in body


def test_the_token_must_come_as_a_bearer_token(sqlite_idp: Idp) -> None:
    token = user_tokens(sqlite_idp, scope="openid")["access_token"]
    for header in (f"Basic {token}", "Bearer ", f"Token {token}"):
        r = sqlite_idp.browser.get("/userinfo", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["www-authenticate"].startswith("Bearer") and "error=" not in r.headers["www-authenticate"]
    # In the query string it is not read (RFC 6750 §2.3 is not supported).
    assert sqlite_idp.browser.get(f"/userinfo?access_token={token}").status_code == 401
    assert sqlite_idp.browser.get("/userinfo", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_suspended_person_gets_no_claims_with_a_token_issued_before(sqlite_idp: Idp) -> None:
    token = user_tokens(sqlite_idp, scope="openid profile")["access_token"]
    with sqlite_idp.services.engine.begin() as conn:
        conn.execute(update(PersonRow).where(PersonRow.id == sqlite_idp.person_id).values(status="suspended"))
    r = sqlite_idp.browser.get("/userinfo", headers=_bearer(token))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert "Sara" not in r.text
