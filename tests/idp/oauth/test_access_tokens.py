"""Reading our access tokens back (`idp.oauth.access_tokens`): only a JWT we signed as an access
token for this issuer is one; a resource endpoint takes it only unexpired, unrevoked and meant
for it."""

from __future__ import annotations

import base64
import json
import time

from joserfc import jwt
from joserfc.jwk import ECKey

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens


def test_an_access_token_reads_back_with_its_claims(sqlite_idp: Idp) -> None:
    tokens = user_tokens(sqlite_idp, scope="openid profile")
    at = sqlite_idp.services.access_tokens.read(tokens["access_token"])
    assert at is not None and not at.revoked and not at.is_expired()
    assert at.client_id == "portal" and at.claims["sub"] == sqlite_idp.person_id
    assert ISSUER in at.audiences and set(at.get_scope().split()) == {"openid", "profile"}
    active = sqlite_idp.services.access_tokens.read_active(tokens["access_token"], audience=ISSUER)
    assert active is not None and active.claims == at.claims


def test_an_id_token_or_a_refresh_token_is_not_an_access_token(sqlite_idp: Idp) -> None:
    tokens = user_tokens(sqlite_idp)
    reader = sqlite_idp.services.access_tokens
    assert reader.read(tokens["id_token"]) is None  # signed by us, but typ JWT, not at+jwt
    assert reader.read(tokens["refresh_token"]) is None
    r = sqlite_idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert r.status_code == 401


def test_a_token_signed_by_anyone_else_is_not_ours(sqlite_idp: Idp) -> None:
    token = user_tokens(sqlite_idp)["access_token"]
    genuine = sqlite_idp.services.access_tokens.read(token)
    assert genuine is not None
    # The same claims and our kid in the header, signed with another key.
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    forged = jwt.encode(header, genuine.claims, ECKey.generate_key("P-256"))
    assert sqlite_idp.services.access_tokens.read(forged) is None
    for junk in ("", "a.b.c", "not a token", "x" * 9000):
        assert sqlite_idp.services.access_tokens.read(junk) is None


def test_a_resource_takes_only_tokens_meant_for_it_and_still_valid(sqlite_idp: Idp) -> None:
    reader = sqlite_idp.services.access_tokens
    token = user_tokens(sqlite_idp, scope="openid")["access_token"]
    assert reader.read_active(token, audience=ISSUER) is not None
    assert reader.read_active(token, audience="https://api.example") is None
    revoked = sqlite_idp.browser.post("/revoke", auth=("portal", sqlite_idp.portal_secret),
                                      data={"token": token, "token_type_hint": "access_token"})
    assert revoked.status_code == 200
    at = reader.read(token)
    assert at is not None and at.revoked and at.is_revoked()
    assert reader.read_active(token, audience=ISSUER) is None


def test_an_expired_token_is_not_active(sqlite_idp: Idp) -> None:
    reader = sqlite_idp.services.access_tokens
    at = reader.read(user_tokens(sqlite_idp, scope="openid")["access_token"])
    assert at is not None
    expired = sqlite_idp.services.keyring.sign({**at.claims, "exp": int(time.time()) - 1}, typ="at+jwt")
    read = reader.read(expired)
    assert read is not None and read.is_expired()
    assert reader.read_active(expired, audience=ISSUER) is None
