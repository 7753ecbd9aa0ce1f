"""Refresh token rotation and reuse detection (RFC 6749 §6, OAuth 2.0 Security BCP §4.14)."""

from __future__ import annotations

import pytest
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster


def test_refresh_rotates_and_keeps_the_original_authentication(idp: Idp) -> None:
    first = user_tokens(idp)
    oauth = idp.oauth()
    second = oauth.refresh_token(f"{ISSUER}/token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    before = jwt.decode(first["id_token"], keys).claims
    after = jwt.decode(second["id_token"], keys).claims
    # Refreshing never re-authenticates: auth_time and acr stay what was proven at sign-in.
    assert after["auth_time"] == before["auth_time"] and after["acr"] == before["acr"] == "urn:idp:loa:1"
    assert after["sub"] == before["sub"] and "nonce" not in after
    third = oauth.refresh_token(f"{ISSUER}/token", refresh_token=second["refresh_token"])
    assert third["access_token"]


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(idp: Idp) -> None:
    first = user_tokens(idp)
    oauth = idp.oauth()
    second = oauth.refresh_token(f"{ISSUER}/token", refresh_token=first["refresh_token"])

    with pytest.raises(OAuthError) as reuse:
        oauth.refresh_token(f"{ISSUER}/token", refresh_token=first["refresh_token"])
    assert reuse.value.error == "invalid_grant"
    # The legitimate holder of the newest token is cut off too, and its access token is dead.
    with pytest.raises(OAuthError):
        oauth.refresh_token(f"{ISSUER}/token", refresh_token=second["refresh_token"])
    intro = idp.browser.post("/introspect", auth=("portal", idp.portal_secret), data={"token": second["access_token"]})
    assert intro.json() == {"active": False}
    kinds = [e.kind for e in idp.services.audit.recent(kind="token.refresh_reused")]
    assert kinds == ["token.refresh_reused"]


def test_refresh_can_narrow_scope_but_not_widen_it(sqlite_idp: Idp) -> None:
    first = user_tokens(sqlite_idp, scope="openid profile offline_access")
    oauth = sqlite_idp.oauth()
    narrowed = oauth.refresh_token(f"{ISSUER}/token", refresh_token=first["refresh_token"], scope="openid")
    assert narrowed["scope"] == "openid"
    with pytest.raises(OAuthError) as wider:
        oauth.refresh_token(f"{ISSUER}/token", refresh_token=narrowed["refresh_token"], scope="openid phone")
    assert wider.value.error == "invalid_scope"


def test_refresh_token_of_another_client_is_refused(sqlite_idp: Idp) -> None:
    tokens = user_tokens(sqlite_idp)
    secret = sqlite_idp.add_client("other", grant_types=["authorization_code", "refresh_token"])
    r = sqlite_idp.browser.post("/token", auth=("other", secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_without_offline_access_no_refresh_token_is_issued(sqlite_idp: Idp) -> None:
    tokens = user_tokens(sqlite_idp, scope="openid profile")
    assert "refresh_token" not in tokens


def test_refresh_stops_when_the_account_is_locked(idp: Idp) -> None:
    from sqlalchemy import update

    from levels.store_sql import PersonRow

    tokens = user_tokens(idp)
    with idp.services.engine.begin() as conn:
        conn.execute(update(PersonRow).where(PersonRow.id == idp.person_id).values(status="locked"))
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret),
                         data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
