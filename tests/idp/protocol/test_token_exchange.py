"""Token exchange for inter-agency inquiries (RFC 8693): agency A trades a citizen's access token for
one to call agency B's inquiry API.

The agencies are Authlib's OAuth 2.0 client (`fetch_token` with the token-exchange grant) or plain
form posts for the refusals; issued tokens are verified with joserfc against our JWKS.
"""

from __future__ import annotations

import time

import pytest
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from clients.services import Service, ServiceCatalogue
from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import user_tokens
from tests.idp.protocol.test_legal_entities import ACME, Portal, _act_for, _import, _officer, agency  # noqa: F401

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
LAND, CIVIL, POST = "land-registry", "civil-registry", "post-office"


class Agencies:
    """Three agencies with inquiry APIs (each a confidential client with services) and who may ask whom."""

    def __init__(self, idp: Idp, *, land_fields: dict[str, object] | None = None) -> None:
        self.idp = idp
        self.secrets: dict[str, str] = {"portal": idp.portal_secret}
        catalogue = ServiceCatalogue(idp.services.clients, idp.services.services)
        names = {LAND: "Land registry", CIVIL: "Civil registry", POST: "Post office"}
        for client_id, name in names.items():
            fields: dict[str, object] = {"redirect_uris": [], "grant_types": ["client_credentials"], "scopes": ["x"],
                                         "audiences": ["https://x.example"]}
            if client_id == LAND and land_fields:
                fields.update(land_fields)
            self.secrets[client_id] = idp.add_client(client_id, name=name, **fields) or ""
        for service in (Service(LAND, "land.ownership", 1), Service(LAND, "land.mortgage", 2),
                        Service(LAND, "land.fresh", 1, max_auth_age=0), Service(LAND, "land.unlisted", 1),
                        Service(CIVIL, "civil.family", 1), Service(POST, "post.address", 1)):
            catalogue.add(service)
        exchanges = idp.services.exchanges
        exchanges.allow("portal", LAND, ["land.ownership", "land.mortgage", "land.fresh"])
        exchanges.allow(LAND, CIVIL, ["civil.family"])
        exchanges.allow(CIVIL, POST, ["post.address"])
        exchanges.allow(POST, LAND, ["land.ownership"])

    def oauth(self, client_id: str):  # type: ignore[no-untyped-def]
        return self.idp.oauth(client_id, client_secret=self.secrets[client_id], scope=None)

    def exchange(self, client_id: str, subject_token: str, audience: str, scope: str) -> dict[str, object]:
        """The exchange as agency `client_id`'s back end makes it, with Authlib."""
        return dict(self.oauth(client_id).fetch_token(
            f"{ISSUER}/token", grant_type=GRANT, subject_token=subject_token, subject_token_type=ACCESS_TOKEN,
            audience=audience, scope=scope))

    def refused(self, client_id: str, subject_token: str, **params: str) -> tuple[int, str, str]:
        data = {"grant_type": GRANT, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN,
                "audience": LAND, "scope": "land.ownership", **params}
        r = self.idp.browser.post("/token", auth=(client_id, self.secrets[client_id]),
                                  data={k: v for k, v in data.items() if v != "-"})
        body = r.json()
        return r.status_code, body.get("error", ""), body.get("error_description", "")

    def claims(self, token: str) -> dict[str, object]:
        keys = KeySet.import_key_set(self.idp.browser.get("/jwks").json())
        decoded = jwt.decode(token, keys)
        assert decoded.header["typ"] == "at+jwt"
        return dict(decoded.claims)

    def introspect(self, client_id: str, token: str) -> dict[str, object]:
        r = self.idp.browser.post("/introspect", auth=(client_id, self.secrets[client_id]), data={"token": token})
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def agencies(idp: Idp) -> Agencies:
    return Agencies(idp)


@pytest.fixture
def sqlite_agencies(sqlite_idp: Idp) -> Agencies:
    return Agencies(sqlite_idp)


def test_discovery_advertises_the_grant(sqlite_idp: Idp) -> None:
    assert GRANT in sqlite_idp.browser.get("/.well-known/openid-configuration").json()["grant_types_supported"]


def test_agency_gets_a_token_for_the_other_agency_acting_for_the_person(idp: Idp, agencies: Agencies) -> None:
    citizen = user_tokens(idp)
    original = agencies.claims(citizen["access_token"])
    token = agencies.exchange("portal", citizen["access_token"], LAND, "land.ownership")
    # RFC 8693 §2.2.1
    assert token["issued_token_type"] == ACCESS_TOKEN and token["token_type"] == "Bearer"
    assert token["scope"] == "land.ownership" and "refresh_token" not in token
    assert 0 < int(token["expires_in"]) <= 300  # type: ignore[call-overload]
    claims = agencies.claims(str(token["access_token"]))
    assert claims["aud"] == LAND and claims["client_id"] == "portal" and claims["sub"] == idp.person_id
    assert claims["act"] == {"sub": "portal"}
    for kept in ("acr", "amr", "auth_time", "sid"):
        assert claims[kept] == original[kept]
    assert claims["exp"] <= original["exp"]  # type: ignore[operator]
    # The agency called verifies it locally (above) or asks us: active, with who acts.
    seen = agencies.introspect(LAND, str(token["access_token"]))
    assert seen["active"] is True and seen["act"] == {"sub": "portal"} and seen["sub"] == idp.person_id
    assert seen["scope"] == "land.ownership" and seen["acr"] == original["acr"]
    # It is not a token for this provider's userinfo, nor for a third agency to read.
    info = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 401
    assert agencies.introspect(CIVIL, str(token["access_token"])) == {"active": False}


def test_the_exchange_is_audited(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    citizen = user_tokens(sqlite_idp)
    sqlite_agencies.exchange("portal", citizen["access_token"], LAND, "land.ownership")
    [event] = sqlite_idp.services.audit.recent(kind="token.exchanged")
    assert event.person_id == sqlite_idp.person_id and event.client_id == "portal"
    assert event.detail == {"audience": LAND, "scope": "land.ownership", "act": {"sub": "portal"}}


def test_a_pairwise_agency_sees_its_own_sub(sqlite_idp: Idp) -> None:
    agencies = Agencies(sqlite_idp, land_fields={"subject_type": "pairwise",
                                                 "redirect_uris": ["https://land.example/cb"],
                                                 "grant_types": ["authorization_code", "client_credentials"]})
    token = agencies.exchange("portal", user_tokens(sqlite_idp)["access_token"], LAND, "land.ownership")
    sub = agencies.claims(str(token["access_token"]))["sub"]
    land = sqlite_idp.services.clients.get(LAND)
    assert land is not None
    assert sub == sqlite_idp.services.subjects.for_client(land, sqlite_idp.person_id) != sqlite_idp.person_id


def test_the_legal_entity_is_kept(idp: Idp, agency: str) -> None:  # noqa: F811
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    citizen = _act_for(idp, Portal(idp, agency), "Acme Trading Co")
    agencies = Agencies(idp)
    agencies.secrets["agency"] = agency
    idp.services.exchanges.allow("agency", LAND, ["land.ownership"])
    token = agencies.exchange("agency", str(citizen["access_token"]), LAND, "land.ownership")
    claims = agencies.claims(str(token["access_token"]))
    assert claims["legal_entity"] == agencies.claims(str(citizen["access_token"]))["legal_entity"]
    assert claims["legal_entity"]["national_id"] == ACME  # type: ignore[index]
    assert claims["act"] == {"sub": "agency"}


def test_chained_exchanges_nest_act_up_to_the_depth_limit(idp: Idp, agencies: Agencies) -> None:
    assert idp.services.settings.token_exchange_max_depth == 3
    citizen = user_tokens(idp)
    first = agencies.exchange("portal", citizen["access_token"], LAND, "land.ownership")
    second = agencies.exchange(LAND, str(first["access_token"]), CIVIL, "civil.family")
    claims = agencies.claims(str(second["access_token"]))
    assert claims["act"] == {"sub": LAND, "act": {"sub": "portal"}}
    assert claims["aud"] == CIVIL and claims["client_id"] == LAND and claims["sub"] == idp.person_id
    assert agencies.introspect(CIVIL, str(second["access_token"]))["act"] == claims["act"]
    third = agencies.exchange(CIVIL, str(second["access_token"]), POST, "post.address")
    assert agencies.claims(str(third["access_token"]))["act"] == {
        "sub": CIVIL, "act": {"sub": LAND, "act": {"sub": "portal"}}}
    # A fourth agency in the chain is one too many (RFC 8693 §2.2.2: refused by policy).
    status, error, _ = agencies.refused(POST, str(third["access_token"]), audience=LAND, scope="land.ownership")
    assert (status, error) == (400, "invalid_request")
    # Only the agency a token was addressed to may exchange it further; not the one that got it.
    status, error, _ = agencies.refused("portal", str(first["access_token"]))
    assert (status, error) == (400, "invalid_grant")


def test_revoking_the_original_grant_or_token_ends_the_exchanged_ones(idp: Idp, agencies: Agencies) -> None:
    citizen = user_tokens(idp)
    first = agencies.exchange("portal", citizen["access_token"], LAND, "land.ownership")
    second = agencies.exchange(LAND, str(first["access_token"]), CIVIL, "civil.family")
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret), data={"token": citizen["refresh_token"]})
    assert r.status_code == 200
    assert agencies.introspect(LAND, str(first["access_token"])) == {"active": False}
    assert agencies.introspect(CIVIL, str(second["access_token"])) == {"active": False}
    status, error, _ = agencies.refused("portal", citizen["access_token"])
    assert (status, error) == (400, "invalid_grant")


def test_revoked_subject_token_is_refused(idp: Idp, agencies: Agencies) -> None:
    citizen = user_tokens(idp)
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret), data={"token": citizen["access_token"]})
    assert r.status_code == 200
    status, error, description = agencies.refused("portal", citizen["access_token"])
    assert (status, error) == (400, "invalid_grant") and "revoked" in description


def test_expired_subject_token_is_refused(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    claims = sqlite_agencies.claims(user_tokens(sqlite_idp)["access_token"])
    expired = sqlite_idp.services.keyring.sign({**claims, "jti": "expired-1", "exp": int(time.time()) - 1},
                                               alg="ES256", typ="at+jwt")
    status, error, description = sqlite_agencies.refused("portal", expired)
    assert (status, error) == (400, "invalid_grant") and "expired" in description


def test_subject_tokens_the_agency_does_not_hold_are_refused(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    other_secret = sqlite_idp.add_client("other-portal", redirect_uris=["https://other.example/cb"],
                                         scopes=["openid", "profile", "offline_access"])
    sqlite_agencies.secrets["other-portal"] = other_secret or ""
    others = user_tokens(sqlite_idp, client_id="other-portal", client_secret=other_secret,
                         redirect_uri="https://other.example/cb")
    assert sqlite_agencies.refused("portal", others["access_token"])[:2] == (400, "invalid_grant")
    # The agency called cannot exchange the citizen's token it was never given to use.
    mine = user_tokens(sqlite_idp)["access_token"]
    assert sqlite_agencies.refused(LAND, mine, audience=CIVIL, scope="civil.family")[:2] == (400, "invalid_grant")
    # A machine token has no person behind it; an ID token or junk is no access token of ours.
    machine = sqlite_idp.browser.post("/token", auth=(LAND, sqlite_agencies.secrets[LAND]),
                                      data={"grant_type": "client_credentials"}).json()["access_token"]
    assert sqlite_agencies.refused(LAND, machine, audience=CIVIL, scope="civil.family")[:2] == (400, "invalid_grant")
    id_token = user_tokens(sqlite_idp)["id_token"]
    for junk in (id_token, "junk", "a.b.c", "x" * 10000):
        assert sqlite_agencies.refused("portal", junk)[:2] == (400, "invalid_grant")


def test_pairs_not_allowed_are_invalid_target(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    token = user_tokens(sqlite_idp)["access_token"]
    refused = sqlite_agencies.refused
    assert refused("portal", token, audience=CIVIL, scope="civil.family")[:2] == (400, "invalid_target")
    assert refused("portal", token, audience="nobody")[:2] == (400, "invalid_target")
    assert refused("portal", token, audience="portal")[:2] == (400, "invalid_target")
    assert refused("portal", token, audience="-")[:2] == (400, "invalid_target")
    assert refused("portal", token, audience="-", resource="https://elsewhere.example/")[:2] == (
        400, "invalid_target")
    assert refused("portal", token, resource=CIVIL)[:2] == (400, "invalid_target")  # two agencies at once
    # `resource` naming the agency works as `audience` does.
    status, _, _ = refused("portal", token, audience="-", resource=LAND)
    assert status == 200


def test_scopes_not_allowed_or_above_the_original_level_are_invalid_scope(
    sqlite_idp: Idp, sqlite_agencies: Agencies,
) -> None:
    token = user_tokens(sqlite_idp)["access_token"]  # level 1
    refused = sqlite_agencies.refused
    assert refused("portal", token, scope="land.unlisted")[:2] == (400, "invalid_scope")  # not allowed for the pair
    assert refused("portal", token, scope="civil.family")[:2] == (400, "invalid_scope")  # not the agency's
    assert refused("portal", token, scope="openid")[:2] == (400, "invalid_scope")
    assert refused("portal", token, scope="-")[:2] == (400, "invalid_scope")
    status, error, description = refused("portal", token, scope="land.ownership land.mortgage")
    assert (status, error) == (400, "invalid_scope") and "level 2" in description
    status, error, description = refused("portal", token, scope="land.fresh")
    assert (status, error) == (400, "invalid_scope") and "at most 0 s old" in description


def test_a_public_client_cannot_exchange(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    sqlite_idp.add_client("spa", redirect_uris=["https://spa.example/cb"], token_endpoint_auth_method="none")
    token = user_tokens(sqlite_idp)["access_token"]
    r = sqlite_idp.browser.post("/token", data={
        "grant_type": GRANT, "client_id": "spa", "subject_token": token, "subject_token_type": ACCESS_TOKEN,
        "audience": LAND, "scope": "land.ownership"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # Nor can an operator allow it to.
    from clients.exchange import InvalidExchange

    with pytest.raises(InvalidExchange, match="public client"):
        sqlite_idp.services.exchanges.allow("spa", LAND, ["land.ownership"])


def test_malformed_requests_are_invalid_request(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    token = user_tokens(sqlite_idp)["access_token"]
    refused = sqlite_agencies.refused
    assert refused("portal", "-")[:2] == (400, "invalid_request")
    assert refused("portal", token, subject_token_type="-")[:2] == (400, "invalid_request")
    assert refused("portal", token, subject_token_type="urn:ietf:params:oauth:token-type:id_token")[:2] == (
        400, "invalid_request")
    assert refused("portal", token, requested_token_type="urn:ietf:params:oauth:token-type:refresh_token")[:2] == (
        400, "invalid_request")
    assert refused("portal", token, actor_token=token, actor_token_type=ACCESS_TOKEN)[:2] == (400, "invalid_request")
    # Repeated parameters, odd characters and huge values never cost a 500.
    r = sqlite_idp.browser.post("/token", auth=("portal", sqlite_idp.portal_secret), content=(
        f"grant_type={GRANT}&subject_token={token}&subject_token={token}&subject_token_type={ACCESS_TOKEN}"
        f"&audience={LAND}&scope=land.ownership"), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    for params in ({"audience": "ز" * 5000}, {"scope": "ز\"\\"}, {"scope": "x" * 50000}, {"resource": "%00"}):
        status, error, description = refused("portal", token, **params)
        assert status == 400 and error in ("invalid_target", "invalid_scope", "invalid_request"), (params, error)
        assert description.isascii() and '"' not in description


def test_the_authlib_client_sees_refusals_as_oauth_errors(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    with pytest.raises(OAuthError) as refused:
        sqlite_agencies.exchange("portal", user_tokens(sqlite_idp)["access_token"], CIVIL, "civil.family")
    assert refused.value.error == "invalid_target"


def test_signing_out_everywhere_ends_the_exchanged_tokens(idp: Idp, agencies: Agencies) -> None:
    from tests.idp.account.helpers import post_form

    citizen = user_tokens(idp)
    first = agencies.exchange("portal", citizen["access_token"], LAND, "land.ownership")
    second = agencies.exchange(LAND, str(first["access_token"]), CIVIL, "civil.family")
    assert agencies.introspect(CIVIL, str(second["access_token"]))["active"] is True
    assert post_form(idp.browser, "/account/sessions/end-all", confirm="yes").status_code in (200, 303)
    assert agencies.introspect(LAND, str(first["access_token"])) == {"active": False}
    assert agencies.introspect(CIVIL, str(second["access_token"])) == {"active": False}


def test_the_exchanged_token_never_outlives_the_subject_token(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    claims = sqlite_agencies.claims(user_tokens(sqlite_idp)["access_token"])
    short = sqlite_idp.services.keyring.sign({**claims, "jti": "short-1", "exp": int(time.time()) + 20},
                                             alg="ES256", typ="at+jwt")
    token = sqlite_agencies.exchange("portal", short, LAND, "land.ownership")
    assert int(token["expires_in"]) <= 20  # type: ignore[call-overload]
    assert sqlite_agencies.claims(str(token["access_token"]))["exp"] <= int(time.time()) + 20


def test_a_service_held_to_a_profile_needs_a_client_held_to_it(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    ServiceCatalogue(sqlite_idp.services.clients, sqlite_idp.services.services).add(
        Service(LAND, "land.transfer", 1, profile="fapi2"))
    sqlite_idp.services.exchanges.allow("portal", LAND, ["land.transfer"])
    status, error, description = sqlite_agencies.refused(
        "portal", user_tokens(sqlite_idp)["access_token"], scope="land.transfer")
    assert (status, error) == (400, "invalid_scope") and "fapi2" in description


def test_a_person_no_longer_active_cannot_be_acted_for(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    from sqlalchemy import update

    from levels.store_sql import PersonRow

    token = user_tokens(sqlite_idp)["access_token"]
    with sqlite_idp.services.engine.begin() as conn:
        conn.execute(update(PersonRow).where(PersonRow.id == sqlite_idp.person_id).values(status="disabled"))
    assert sqlite_agencies.refused("portal", token)[:2] == (400, "invalid_grant")


def test_a_withdrawn_permission_stops_the_exchange(sqlite_idp: Idp, sqlite_agencies: Agencies) -> None:
    token = user_tokens(sqlite_idp)["access_token"]
    assert sqlite_agencies.refused("portal", token)[0] == 200
    sqlite_idp.services.exchanges.revoke("portal", LAND)
    assert sqlite_agencies.refused("portal", token)[:2] == (400, "invalid_target")
