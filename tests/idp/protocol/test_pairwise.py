"""Pairwise subjects (OIDC Core §8): a pairwise client sees one `sub` per sector, the same in every
token, userinfo answer, introspection, logout token and hint; clients of other sectors and public
clients see others. Authlib's client is the relying party, joserfc checks what we sign.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import ISSUER, PASSWORD, Idp, sign_in
from tests.idp.flows import authorization_params, error_at_client
from tests.relying_party import RelyingParty

VERIFIER = "p" * 64
SCOPE = "openid profile offline_access"


def _pairwise(idp: Idp, client_id: str, redirect_uri: str, **fields: object) -> str:
    secret = idp.add_client(client_id, redirect_uris=[redirect_uri], subject_type="pairwise",
                            scopes=["openid", "profile", "offline_access"], **fields)
    assert secret is not None
    return secret


class Agency:
    """One relying party registered with us: Authlib's OAuth client over the ASGI transport."""

    def __init__(self, idp: Idp, client_id: str, secret: str, redirect_uri: str) -> None:
        self.idp, self.client_id, self.secret, self.redirect_uri = idp, client_id, secret, redirect_uri
        self.oauth = idp.oauth(client_id, client_secret=secret, redirect_uri=redirect_uri, scope=SCOPE)

    def sign_in(self, browser: TestClient | None = None, national_code: str | None = None) -> dict[str, object]:
        url, _ = self.oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=VERIFIER, nonce="n")
        r = sign_in(browser or self.idp.browser, url, national_code or self.idp.national_code)
        return dict(self.oauth.fetch_token(f"{ISSUER}/token", authorization_response=r.headers["location"],
                                           code_verifier=VERIFIER))

    def refresh(self, token: dict[str, object]) -> dict[str, object]:
        return dict(self.oauth.refresh_token(f"{ISSUER}/token", refresh_token=token["refresh_token"]))

    def userinfo_sub(self, token: dict[str, object]) -> str:
        r = self.idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 200, r.text
        return str(r.json()["sub"])

    def introspect(self, token: str) -> dict[str, object]:
        r = self.idp.browser.post("/introspect", auth=(self.client_id, self.secret), data={"token": token})
        assert r.status_code == 200, r.text
        return dict(r.json())


def _verified(idp: Idp, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    return dict(jwt.decode(token, keys).claims)


def _sub(idp: Idp, token: dict[str, object]) -> str:
    return str(_verified(idp, str(token["id_token"]))["sub"])


def test_a_pairwise_sub_is_the_same_everywhere_for_one_client(idp: Idp) -> None:
    tax = Agency(idp, "tax", _pairwise(idp, "tax", "https://tax.example/callback"), "https://tax.example/callback")
    first = tax.sign_in()
    sub = _sub(idp, first)
    assert sub != idp.person_id
    access = _verified(idp, str(first["access_token"]))
    assert access["sub"] == sub
    assert tax.userinfo_sub(first) == sub
    introspected = tax.introspect(str(first["access_token"]))
    assert introspected["active"] is True and introspected["sub"] == sub
    assert tax.introspect(str(first["refresh_token"]))["sub"] == sub
    refreshed = tax.refresh(first)
    assert _sub(idp, refreshed) == sub and tax.userinfo_sub(refreshed) == sub
    # A later sign-in, in another browser: the same sub.
    assert _sub(idp, tax.sign_in(idp.new_browser())) == sub


def test_no_token_a_pairwise_client_can_read_holds_the_person_id(idp: Idp) -> None:
    tax = Agency(idp, "tax", _pairwise(idp, "tax", "https://tax.example/callback"), "https://tax.example/callback")
    token = tax.sign_in()
    for value in (token["access_token"], token["id_token"]):
        assert idp.person_id not in json.dumps(_verified(idp, str(value)))
    assert idp.person_id not in json.dumps(tax.introspect(str(token["access_token"])))
    # The reference by which we find the person again differs in every token: it joins nothing.
    first, second = (_verified(idp, str(t["access_token"])) for t in (token, tax.refresh(token)))
    private = set(first) - {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "auth_time", "acr",
                            "amr", "sid"}
    assert private and all(first[name] != second[name] for name in private)


def test_one_sector_shares_a_sub_other_sectors_and_public_clients_do_not(idp: Idp) -> None:
    filing = Agency(idp, "tax-filing", _pairwise(idp, "tax-filing", "https://tax.example/filing"),
                    "https://tax.example/filing")
    refunds = Agency(idp, "tax-refunds", _pairwise(idp, "tax-refunds", "https://tax.example/refunds"),
                     "https://tax.example/refunds")
    health = Agency(idp, "health", _pairwise(idp, "health", "https://health.example/callback"),
                    "https://health.example/callback")
    portal = Agency(idp, "portal", idp.portal_secret, "https://portal.example/callback")
    subs = {agency.client_id: _sub(idp, agency.sign_in()) for agency in (filing, refunds, health, portal)}
    assert subs["tax-filing"] == subs["tax-refunds"]
    assert subs["health"] != subs["tax-filing"]
    # A public client sees the person's id, exactly as before pairwise subjects existed.
    assert subs["portal"] == idp.person_id
    assert idp.person_id not in (subs["tax-filing"], subs["health"])


def test_the_back_channel_logout_token_names_the_pairwise_sub(idp: Idp, rp: RelyingParty) -> None:
    tax = Agency(idp, "tax", _pairwise(idp, "tax", "https://tax.example/callback", backchannel_logout_uri=rp.url()),
                 "https://tax.example/callback")
    token = tax.sign_in()
    sub = _sub(idp, token)
    r = idp.browser.get("/end_session?" + urlencode({"id_token_hint": token["id_token"]}))
    assert r.status_code == 200 and "logout_confirm" not in r.text
    assert idp.services.deliverer.deliver_due().delivered == 1
    logout = _verified(idp, rp.requests[0].token)
    assert logout["sub"] == sub and logout["aud"] == "tax"


def test_end_session_with_a_pairwise_hint_signs_out_without_asking(idp: Idp) -> None:
    tax = Agency(idp, "tax", _pairwise(idp, "tax", "https://tax.example/callback",
                                       post_logout_redirect_uris=["https://tax.example/bye"]),
                 "https://tax.example/callback")
    token = tax.sign_in()
    r = idp.browser.get("/end_session?" + urlencode({
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://tax.example/bye", "state": "x"}))
    assert r.status_code == 302 and r.headers["location"] == "https://tax.example/bye?state=x"
    assert idp.browser.get("/authorize", params=authorization_params(prompt="none")).headers[
        "location"].find("error=login_required") > 0


def _second_person(idp: Idp) -> str:
    code = make_national_code("001234568")
    person = new_person(code, "Reza", "Karimi", birthdate=date(1985, 1, 1), now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    return code


def test_prompt_none_with_a_pairwise_hint_answers_only_for_its_person(idp: Idp) -> None:
    redirect = "https://tax.example/callback"
    tax = Agency(idp, "tax", _pairwise(idp, "tax", redirect), redirect)
    hint = str(tax.sign_in()["id_token"])
    params = authorization_params(client_id="tax", redirect_uri=redirect, prompt="none", id_token_hint=hint)
    r = idp.browser.get("/authorize", params=params)
    assert r.status_code == 302 and "code=" in r.headers["location"]

    other = idp.new_browser()
    tax.sign_in(other, _second_person(idp))
    r = other.get("/authorize", params=params)
    assert r.status_code == 302 and "error=login_required" in r.headers["location"]
    assert r.headers["location"].startswith(redirect)

    # A hint issued to another client, or not ours at all, is not a hint for this one.
    portal_hint = str(Agency(idp, "portal", idp.portal_secret, "https://portal.example/callback").sign_in()[
        "id_token"])
    for bad in (portal_hint, "a.b.c", "e30." * 2 + "x"):
        r = idp.browser.get("/authorize", params={**params, "id_token_hint": bad})
        assert r.headers["location"].startswith(redirect) and "error=invalid_request" in r.headers["location"]
    # The portal (public) with its own hint: its sub is the person id, as before.
    r = idp.browser.get("/authorize", params=authorization_params(prompt="none", id_token_hint=portal_hint))
    assert "code" in error_at_client(r)


def test_a_sub_asked_for_with_a_value_is_the_pairwise_one(idp: Idp) -> None:
    redirect = "https://tax.example/callback"
    tax = Agency(idp, "tax", _pairwise(idp, "tax", redirect), redirect)
    sub = _sub(idp, tax.sign_in())

    def ask(value: str) -> dict[str, str]:
        claims = json.dumps({"id_token": {"sub": {"value": value}}})
        r = idp.browser.get("/authorize", params=authorization_params(client_id="tax", redirect_uri=redirect,
                                                                        claims=claims))
        assert r.status_code == 302 and r.headers["location"].startswith(redirect), r.headers.get("location")
        return {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}

    assert "code" in ask(sub)
    # OIDC Core §5.5.1: a positive answer only for the person named, as this client knows them.
    assert ask(idp.person_id)["error"] == "login_required"
    assert ask("someone-else")["error"] == "login_required"


def test_discovery_offers_pairwise_subjects(sqlite_idp: Idp) -> None:
    meta = sqlite_idp.browser.get("/.well-known/openid-configuration").json()
    assert meta["subject_types_supported"] == ["public", "pairwise"]
