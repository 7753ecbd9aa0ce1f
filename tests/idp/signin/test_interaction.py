"""One decision per request: a one-factor step-up (an entity requiring level 2) asks the evaluator
once per request and reads the client's services, the mandates and the person at most once each.

The stores are the real ones, wrapped to count their calls; the evaluator is the real one, wrapped
the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

import idp.signin.interaction as interaction
from clients.services import Service, ServiceCatalogue
from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from levels.iranian_input import make_national_id
from tests.idp.conftest import CSRF_RE, ISSUER, TX_RE, Idp, sign_in, submit_step

ACME = make_national_id("1038028479")
AGENCY = "agency"
AGENCY_REDIRECT = "https://agency.example/callback"


class Counting:
    """The real object, with every method call counted by name."""

    def __init__(self, real: object, counts: Counter[str], prefix: str) -> None:
        self._real, self._counts, self._prefix = real, counts, prefix

    def __getattr__(self, name: str) -> object:
        value = getattr(self._real, name)
        if not callable(value):
            return value

        def counted(*args: object, **kwargs: object) -> object:
            self._counts[f"{self._prefix}.{name}"] += 1
            return value(*args, **kwargs)
        return counted


@pytest.fixture
def counts(sqlite_idp: Idp, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    found: Counter[str] = Counter()
    svc = sqlite_idp.services
    # Services is a frozen dataclass: the wrappers go in the way its own __init__ sets fields.
    object.__setattr__(svc, "services", Counting(svc.services, found, "services"))
    object.__setattr__(svc, "people", Counting(svc.people, found, "people"))
    svc.acting.entities = Counting(svc.acting.entities, found, "entities")  # type: ignore[assignment]
    real = interaction.next_step

    def counted_next_step(*args: object) -> object:
        found["next_step"] += 1
        return real(*args)  # type: ignore[arg-type]
    monkeypatch.setattr(interaction, "next_step", counted_next_step)
    return found


def _per_request(counts: Counter[str], call: Callable[[], httpx.Response]) -> tuple[httpx.Response, Counter[str]]:
    before = counts.copy()
    response = call()
    return response, counts - before


def _agency(idp: Idp) -> None:
    idp.add_client(AGENCY, redirect_uris=[AGENCY_REDIRECT], grant_types=["authorization_code"],
                   scopes=["openid", "legal_entity"], token_endpoint_auth_method="none")
    ServiceCatalogue(idp.services.clients, idp.services.services).add(Service(AGENCY, "tax.file", 1))
    officer = RegistryOfficer(idp.national_code, "ceo", frozenset({"*"}), None, None)
    idp.services.acting.entities.import_registry(
        [RegistryEntity(ACME, "Acme Trading Co", "private_joint_stock", EntityStatus.ACTIVE, 2, (officer,), line=1)],
        actor="test")


def _url() -> str:
    from urllib.parse import urlencode

    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    return f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": AGENCY, "redirect_uri": AGENCY_REDIRECT,
        "scope": "openid legal_entity tax.file", "state": "s", "nonce": "n", "ui_locales": "en",
        "code_challenge": create_s256_code_challenge("v" * 64), "code_challenge_method": "S256"})


def test_a_one_factor_step_up_decides_once_per_request(sqlite_idp: Idp, counts: Counter[str]) -> None:
    idp = sqlite_idp
    idp.set_tier(2)
    _agency(idp)
    browser = idp.browser
    chooser = browser.get(sign_in(browser, _url(), idp.national_code).headers["location"])
    assert chooser.status_code == 200 and "Acme Trading Co" in chooser.text
    value = re.search(r'name="choice" value="([^"]+)" class="choice">\s*<span class="choice-title">Acme', chooser.text)
    csrf, tx = CSRF_RE.search(chooser.text), TX_RE.search(chooser.text)
    assert value and csrf and tx
    chosen = browser.post("/login/act-as", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                                 "choice": value.group(1)})
    assert chosen.status_code == 303

    # The step-up: resume → step page → a wrong code → the right code → resume → the code.
    seen: list[Counter[str]] = []
    r, n = _per_request(counts, lambda: browser.get(chosen.headers["location"]))
    assert r.headers["location"].startswith("/login/step?")
    seen.append(n)
    page, n = _per_request(counts, lambda: browser.get(r.headers["location"]))
    assert 'name="method" value="sms"' in page.text
    seen.append(n)
    wrong, n = _per_request(counts, lambda: submit_step(browser, page.text, code="000000"))
    assert wrong.status_code == 400 and 'name="method" value="sms"' in wrong.text
    seen.append(n)
    done, n = _per_request(counts, lambda: submit_step(browser, page.text, code=idp.last_sms_code()))
    assert done.status_code == 303
    seen.append(n)
    final, n = _per_request(counts, lambda: browser.get(done.headers["location"]))
    assert final.headers["location"].startswith(AGENCY_REDIRECT)
    assert "code" in parse_qs(urlparse(final.headers["location"]).query)
    seen.append(n)

    for request_counts in seen:
        assert request_counts["next_step"] == 1, request_counts
        assert request_counts["services.services_for"] <= 1, request_counts
        assert request_counts["entities.mandates_of"] <= 1, request_counts
        assert request_counts["people.get"] <= 1, request_counts
    # Five requests, five decisions: not one per page helper.
    assert sum(c["next_step"] for c in seen) == 5
