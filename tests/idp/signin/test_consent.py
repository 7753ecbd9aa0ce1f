"""The consent page: clients requiring consent ask once per scope set; trusted portals never ask
unless `prompt=consent`; refusing returns `access_denied`; `prompt=none` gets `consent_required`.

The relying party is Authlib's OAuth 2.0 client; ID tokens are checked with joserfc against our JWKS.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html import unescape
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from clients.services import Service, ServiceCatalogue
from idp.signin.consent import OTHER_TEXT, SCOPE_TEXT, SERVICE_TEXT
from idp.web.i18n import load_translations
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, REDIRECT_URI, TX_RE, Idp, sign_in, submit_login

SHOP = "shop"
SHOP_REDIRECT = "https://shop.example/callback"
SHOP_NAME = "Online pharmacy"


@pytest.fixture
def shop(idp: Idp) -> str:
    """A third-party service that requires consent, with one service scope in its catalogue."""
    secret = idp.add_client(
        SHOP, name=SHOP_NAME, redirect_uris=[SHOP_REDIRECT], grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "phone", "national_code", "offline_access"], require_consent=True)
    ServiceCatalogue(idp.services.clients, idp.services.services).add(Service(SHOP, "pharmacy.order", 1))
    return secret or ""


class RelyingParty:
    """One client's side of authorizations: Authlib builds each request and redeems the code."""

    def __init__(self, idp: Idp, client_id: str, secret: str, redirect_uri: str) -> None:
        self.idp, self.client_id, self.secret, self.redirect_uri = idp, client_id, secret, redirect_uri
        self.verifier = "v" * 64

    def url(self, scope: str = "openid profile", **extra: str) -> str:
        oauth = self.idp.oauth(self.client_id, client_secret=self.secret, redirect_uri=self.redirect_uri, scope=scope)
        url, _ = oauth.create_authorization_url(
            f"{ISSUER}/authorize", code_verifier=self.verifier, state="st-1", nonce="n", ui_locales="en", **extra)
        return url

    def redeem(self, location: str, scope: str = "openid profile") -> dict[str, object]:
        assert location.startswith(self.redirect_uri + "?"), location
        oauth = self.idp.oauth(self.client_id, client_secret=self.secret, redirect_uri=self.redirect_uri, scope=scope)
        token = dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location,
                                       code_verifier=self.verifier, state="st-1"))
        keys = KeySet.import_key_set(self.idp.browser.get("/jwks").json())
        token["claims"] = dict(jwt.decode(str(token["id_token"]), keys).claims)
        return token


@pytest.fixture
def rp(idp: Idp, shop: str) -> RelyingParty:
    return RelyingParty(idp, SHOP, shop, SHOP_REDIRECT)


@pytest.fixture
def portal(idp: Idp) -> RelyingParty:
    """The trusted government portal of the `idp` fixture."""
    return RelyingParty(idp, "portal", idp.portal_secret, REDIRECT_URI)


def _consent_page(idp: Idp, response: httpx.Response) -> httpx.Response:
    location = response.headers.get("location", "")
    assert response.status_code == 302 and location.startswith("/login/consent?tx="), (response.status_code, location)
    page = idp.browser.get(location)
    assert page.status_code == 200, page.text
    return page


def _decide(idp: Idp, page: httpx.Response, decision: str) -> httpx.Response:
    csrf, tx = CSRF_RE.search(page.text), TX_RE.search(page.text)
    assert csrf and tx
    return idp.browser.post("/login/consent", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                                    "decision": decision})


def _allow(idp: Idp, page: httpx.Response) -> str:
    """Press Allow; return where the browser ends up after resuming the authorization."""
    r = _decide(idp, page, "allow")
    assert r.status_code == 303 and r.headers["location"].startswith("/authorize/resume?tx="), r.text
    return idp.browser.get(r.headers["location"]).headers["location"]


def _lines(page: httpx.Response) -> list[str]:
    items = re.findall(r"<li>(.*?)</li>", page.text, re.DOTALL)
    return [" ".join(unescape(re.sub(r"<[^>]+>", "", item)).split()) for item in items]


def _expired(response: httpx.Response) -> bool:
    """The "sign-in link has expired" page (in Persian: no request says otherwise any more)."""
    title = load_translations()["fa"].gettext("This sign-in link has expired")
    return response.status_code == 400 and title in response.text


def _audit(idp: Idp, kind: str) -> list[dict[str, object]]:
    return [{"person_id": e.person_id, "client_id": e.client_id, **(e.detail or {})}
            for e in idp.services.audit.recent(kind=kind)]


def test_the_page_says_in_plain_words_what_is_asked_and_allow_issues_the_tokens(idp: Idp, rp: RelyingParty) -> None:
    scope = "openid profile phone national_code offline_access pharmacy.order"
    claims = json.dumps({"userinfo": {"verified_claims": {"verification": {"trust_framework": None},
                                                          "claims": {"given_name": None}}}})
    page = _consent_page(idp, sign_in(idp.browser, rp.url(scope, claims=claims), idp.national_code))
    assert SHOP_NAME in page.text and "Allow access" in page.text
    assert _lines(page) == [
        "Know that it is you (a stable identifier for this service)", "Your name and date of birth",
        "Your mobile number", "Your national code", "Keep you connected to this service when you are not using it",
        "Use the service: pharmacy.order", "How your identity was verified",
    ]
    assert 'name="decision" value="allow"' in page.text and 'name="decision" value="deny"' in page.text

    token = rp.redeem(_allow(idp, page), scope)
    assert token["claims"]["sub"] == idp.person_id and token["claims"]["aud"] == SHOP
    assert token["refresh_token"] and token["access_token"]
    assert idp.services.consents.granted(idp.person_id, SHOP) == {*scope.split(), "verified_claims"}
    granted = _audit(idp, "consent.granted")
    assert len(granted) == 1 and granted[0]["person_id"] == idp.person_id and granted[0]["client_id"] == SHOP
    assert set(granted[0]["scopes"]) == {*scope.split(), "verified_claims"}  # type: ignore[arg-type]


def test_the_page_is_in_persian_by_default(idp: Idp, rp: RelyingParty) -> None:
    url = rp.url("openid phone").replace("ui_locales=en", "ui_locales=fa")
    page = _consent_page(idp, sign_in(idp.browser, url, idp.national_code))
    assert 'lang="fa"' in page.text and "شمارهٔ تلفن همراه شما" in page.text and "اجازه می‌دهم" in page.text


def test_the_same_or_fewer_scopes_do_not_ask_again_but_more_do(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url("openid profile phone"), idp.national_code))
    rp.redeem(_allow(idp, page), "openid profile phone")

    again = idp.browser.get(rp.url("openid profile phone"))
    assert again.headers["location"].startswith(SHOP_REDIRECT + "?code="), again.headers
    fewer = idp.browser.get(rp.url("openid phone"))
    assert rp.redeem(fewer.headers["location"], "openid phone")["claims"]["sub"] == idp.person_id

    page = _consent_page(idp, idp.browser.get(rp.url("openid profile national_code")))
    assert _lines(page) == ["Know that it is you (a stable identifier for this service)",
                            "Your name and date of birth", "Your national code"]
    rp.redeem(_allow(idp, page), "openid profile national_code")
    assert idp.services.consents.granted(idp.person_id, SHOP) == {"openid", "profile", "phone", "national_code"}


def test_a_trusted_portal_never_asks(idp: Idp, portal: RelyingParty) -> None:
    r = sign_in(idp.browser, portal.url("openid profile phone"), idp.national_code)
    assert r.headers["location"].startswith(REDIRECT_URI + "?code="), r.headers
    assert idp.browser.get(portal.url("openid profile phone")).headers["location"].startswith(REDIRECT_URI + "?code=")
    assert idp.services.consents.for_person(idp.person_id) == []


def test_prompt_consent_always_asks_even_a_trusted_portal(idp: Idp, portal: RelyingParty, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, portal.url(prompt="consent"), idp.national_code))
    assert "Tax portal" in page.text
    portal.redeem(_allow(idp, page))
    # Consent already given does not stop prompt=consent from asking, each time.
    _consent_page(idp, idp.browser.get(portal.url(prompt="consent")))

    rp.redeem(_allow(idp, _consent_page(idp, idp.browser.get(rp.url()))))
    assert idp.browser.get(rp.url()).headers["location"].startswith(SHOP_REDIRECT + "?code=")
    page = _consent_page(idp, idp.browser.get(rp.url(prompt="consent")))
    assert rp.redeem(_allow(idp, page))["claims"]["sub"] == idp.person_id


def test_prompt_login_and_consent_signs_in_then_asks(idp: Idp, rp: RelyingParty) -> None:
    rp.redeem(_allow(idp, _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))))
    page = _consent_page(idp, sign_in(idp.browser, rp.url(prompt="login consent"), idp.national_code))
    rp.redeem(_allow(idp, page))


def test_deny_returns_access_denied_with_state(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = _decide(idp, page, "deny")
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(SHOP_REDIRECT + "?")
    query = parse_qs(urlparse(location).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st-1"] and query["iss"] == [ISSUER]
    assert query["error_description"] == ["The person did not allow the service to access their information."]
    assert "code" not in query
    assert idp.services.consents.granted(idp.person_id, SHOP) == frozenset()
    assert [e["client_id"] for e in _audit(idp, "consent.denied")] == [SHOP]
    # The transaction is over: the page cannot be used again.
    assert idp.services.transactions.load(tx) is None
    assert _expired(_decide(idp, page, "allow"))
    # Nothing was remembered: the next authorization asks again.
    _consent_page(idp, idp.browser.get(rp.url()))


def test_deny_with_form_post_posts_the_error(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url(response_mode="form_post"), idp.national_code))
    r = _decide(idp, page, "deny")
    assert r.status_code == 200 and f'action="{SHOP_REDIRECT}"' in r.text
    assert 'value="access_denied"' in r.text and 'value="st-1"' in r.text


def test_prompt_none_needing_consent_returns_consent_required(idp: Idp, rp: RelyingParty, portal: RelyingParty) -> None:
    sign_in(idp.browser, portal.url(), idp.national_code)
    r = idp.browser.get(rp.url(prompt="none"))
    assert r.status_code == 302
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert r.headers["location"].startswith(SHOP_REDIRECT + "?")
    assert query["error"] == ["consent_required"] and query["state"] == ["st-1"]

    rp.redeem(_allow(idp, _consent_page(idp, idp.browser.get(rp.url()))))
    silent = idp.browser.get(rp.url(prompt="none"))
    assert rp.redeem(silent.headers["location"])["claims"]["sub"] == idp.person_id
    more = parse_qs(urlparse(idp.browser.get(rp.url("openid phone", prompt="none")).headers["location"]).query)
    assert more["error"] == ["consent_required"]


def test_withdrawing_makes_it_ask_again(idp: Idp, rp: RelyingParty) -> None:
    rp.redeem(_allow(idp, _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))))
    assert idp.browser.get(rp.url()).headers["location"].startswith(SHOP_REDIRECT + "?code=")
    assert idp.services.consents.withdraw(idp.person_id, SHOP) is True
    _consent_page(idp, idp.browser.get(rp.url()))


def test_without_the_csrf_token_nothing_is_decided(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    for form in ({"tx": tx, "decision": "allow"}, {"tx": tx, "decision": "allow", "csrf_token": "forged"}):
        r = idp.browser.post("/login/consent", data=form)
        assert r.status_code == 400 and "Your form expired" in r.text
    assert idp.services.consents.granted(idp.person_id, SHOP) == frozenset()
    r = _decide(idp, page, "maybe")
    assert r.status_code == 400 and "Choose Allow or Don&#39;t allow." in r.text
    rp.redeem(_allow(idp, page))


def test_consent_given_by_one_person_does_not_carry_over_to_another_account(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = _decide(idp, page, "allow")
    assert r.status_code == 303
    # Before resuming, someone else signs in on the same transaction ("Not you?").
    other_code = make_national_code("009876543")
    other = new_person(other_code, "Reza", "Karimi", birthdate=date(1985, 1, 1), mobile="+989121111111",
                       mobile_verified=True, now=datetime.now(UTC))
    idp.services.people.add(other)
    idp.services.people.set_password_hash(other.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    login = idp.browser.get(f"/login?tx={tx}")
    r = submit_login(idp.browser, login.text, other_code, PASSWORD)
    assert r.status_code == 303, r.text
    r = idp.browser.get(r.headers["location"])
    page = _consent_page(idp, r)
    assert "Reza Karimi" in page.text


def test_the_unauthenticated_consent_page_sends_to_sign_in(idp: Idp, rp: RelyingParty) -> None:
    page = _consent_page(idp, sign_in(idp.browser, rp.url(), idp.national_code))
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    stranger = idp.new_browser()
    r = stranger.get(f"/login/consent?tx={tx}")
    assert r.status_code == 303 and r.headers["location"] == f"/login?tx={tx}"
    assert _expired(stranger.get("/login/consent?tx=nope"))


def test_every_consent_sentence_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    sentences = [*SCOPE_TEXT.values(), SERVICE_TEXT, OTHER_TEXT, "Choose Allow or Don't allow."]
    assert [s for s in sentences if persian.gettext(s) == s] == []


def test_a_named_service_is_shown_by_its_name_in_the_page_language_with_its_logo_policy_and_terms(
    idp: Idp, rp: RelyingParty,
) -> None:
    idp.services.clients.update(
        SHOP, name_fa="داروخانهٔ برخط", name_en="Online pharmacy (EN)", logo_uri="https://cdn.shop.example/logo.png",
        client_uri="https://shop.example/", policy_uri="https://shop.example/privacy", tos_uri="https://shop.example/terms")
    ServiceCatalogue(idp.services.clients, idp.services.services).add(
        Service(SHOP, "pharmacy.order", 1, name_fa="سفارش دارو", name_en="Order medicine"))
    page = _consent_page(idp, sign_in(idp.browser, rp.url("openid pharmacy.order"), idp.national_code))
    assert "Online pharmacy (EN)" in page.text and "داروخانهٔ برخط" not in page.text
    assert "Use the service: Order medicine" in _lines(page)
    assert '<img class="client-logo" src="https://cdn.shop.example/logo.png"' in page.text
    # The logo's origin is the only image source added to the policy, and only on this page.
    assert "img-src 'self' data: https://cdn.shop.example;" in page.headers["content-security-policy"]
    for href in ("https://shop.example/", "https://shop.example/privacy", "https://shop.example/terms"):
        assert f'href="{href}" rel="noopener noreferrer"' in page.text
    assert re.search(r"Signed in as <bdi>[^<]+</bdi>", page.text)

    persian = idp.browser.get(f"{page.url.path}?{page.url.query.decode()}&lang=fa")
    assert "داروخانهٔ برخط" in persian.text and "Online pharmacy (EN)" not in persian.text
    assert "استفاده از خدمت: سفارش دارو" in _lines(persian)
    assert "سیاست حریم خصوصی" in persian.text and "شرایط استفاده" in persian.text


def test_the_sign_in_page_names_the_service_in_each_language_and_falls_back_to_its_registered_name(
    idp: Idp, rp: RelyingParty,
) -> None:
    idp.browser.cookies.clear()
    first = idp.browser.get(rp.url("openid"))
    login = idp.browser.get(first.headers["location"])
    assert "to continue to" in login.text and SHOP_NAME in login.text and "client-logo" not in login.text
    idp.services.clients.update(SHOP, name_fa="داروخانهٔ برخط", logo_uri="https://cdn.shop.example/logo.png")
    english = idp.browser.get(idp.browser.get(rp.url("openid")).headers["location"])
    # No English name: an English page shows the Persian one rather than a code.
    assert "داروخانهٔ برخط" in english.text and '<img class="client-logo"' in english.text
    assert "https://cdn.shop.example" in english.headers["content-security-policy"]
    persian = idp.browser.get(idp.browser.get(rp.url("openid").replace("ui_locales=en", "ui_locales=fa"))
                              .headers["location"])
    assert 'lang="fa"' in persian.text and "داروخانهٔ برخط" in persian.text
