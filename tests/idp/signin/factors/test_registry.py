"""Every registered factor keeps the authenticator contract, and a factor added to the registry
(here a test-only hardware token) is usable in step-up with no other module edited."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.signin.factors import FactorPage, StepView
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from idp.web import pages
from levels.authenticators.base import Authenticator, Challenge, Enrollable, Step
from levels.people import Person
from levels.policy import FactorKind
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, _build, _settings, pkce_pair, sign_in, submit_step

TEMPLATES = Path(pages.__file__).parent / "templates"
L2 = "urn:idp:loa:2"


def test_every_registered_factor_keeps_the_contract(sqlite_idp: Idp) -> None:
    svc = sqlite_idp.services
    person = svc.people.get(sqlite_idp.person_id)
    assert person is not None
    factors = svc.factors
    assert list(factors) == ["passkey", "otp", "sms", "pwd"]
    ranks = [factors[m].preference for m in factors]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    for method in factors:
        authenticator, page = factors[method], factors.page(method)
        assert isinstance(authenticator, Authenticator) and authenticator.method == method
        assert method and not any(c.isspace() for c in method)
        assert isinstance(authenticator.kind, FactorKind)
        assert authenticator.amr and all(isinstance(v, str) and v for v in authenticator.amr)
        # The policy counts exactly what the registry declares.
        assert svc.policy.kinds[method] is authenticator.kind
        assert set(authenticator.amr) <= set(svc.policy.amr([method]))
        assert isinstance(authenticator.available(person), bool)
        # Every challenge is something the page can show; no empty or wrong form ever verifies.
        step = Step(person, f"contract-{method}", "en")
        challenge = authenticator.challenge(step)
        assert isinstance(challenge, Challenge)
        assert isinstance(page.step(challenge, svc.pages.gettext("en"), "en"), StepView)
        for form in ({}, {"password": "wrong password", "code": "000000", "handle": "x", "credential": "{}"}):
            assert authenticator.verify(step, form) is False
        assert (TEMPLATES / page.partial).is_file()
        if page.account_partial is not None:
            assert isinstance(authenticator, Enrollable) and (TEMPLATES / page.account_partial).is_file()
            assert isinstance(authenticator.enrolled(person), Mapping)
    assert svc.factors.authenticators.available(person) == frozenset({"pwd", "sms"})


class HotpToken:
    """A hardware token showing HOTP codes (RFC 4226): a possession factor, counted with a look-ahead
    window and never accepting a counter twice. Tokens are handed out with `issue`."""

    method = "hotp"
    kind = FactorKind.POSSESSION
    amr = ("otp", "hwk")
    preference = -1  # asked before everything else in these tests
    look_ahead = 3

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def issue(self, person_id: str) -> str:
        secret = pyotp.random_base32()
        self._tokens[person_id] = (secret, 0)
        return secret

    def available(self, person: Person) -> bool:
        return person.id in self._tokens

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        return Challenge()

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        code = form.get("code", "")[:20]
        with self._lock:
            if step.person.id not in self._tokens:
                return False
            secret, next_counter = self._tokens[step.person.id]
            hotp = pyotp.HOTP(secret)
            for counter in range(next_counter, next_counter + self.look_ahead):
                if hotp.verify(code, counter):
                    self._tokens[step.person.id] = (secret, counter + 1)
                    return True
        return False


@pytest.fixture
def token_idp(tmp_path: Path) -> Iterator[tuple[Idp, HotpToken]]:
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    token = HotpToken()
    # The default page: a code typed into the generic partial (factors/code.html).
    idp = _build(_settings(url, tmp_path), MemoryStore(), extra_factors=[(token, FactorPage())])
    yield idp, token
    idp.services.engine.dispose()


def test_a_factor_added_to_the_registry_steps_up_over_http(token_idp: tuple[Idp, HotpToken]) -> None:
    idp, token = token_idp
    idp.set_tier(2)
    secret = token.issue(idp.person_id)
    verifier, challenge = pkce_pair()
    url = f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "st", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
        "ui_locales": "en", "acr_values": L2})
    page = sign_in(idp.browser, url, idp.national_code)
    # The most preferred factor that reaches level 2 is the token, not the SMS code.
    assert page.status_code == 200 and 'name="method" value="hotp"' in page.text and "One-time code" in page.text
    wrong = submit_step(idp.browser, page.text, code="000000" if pyotp.HOTP(secret).at(0) != "000000" else "111111")
    assert wrong.status_code == 400 and "That code is not correct." in wrong.text
    done = submit_step(idp.browser, page.text, code=pyotp.HOTP(secret).at(0))
    assert done.status_code == 303
    location = idp.browser.get(done.headers["location"]).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    claims = jwt.decode(r.json()["id_token"], keys).claims
    assert claims["acr"] == L2 and set(claims["amr"]) == {"pwd", "otp", "hwk", "mfa"}
    assert [e.detail["method"] for e in idp.services.audit.recent(kind="login.step_up")] == ["hotp"]
