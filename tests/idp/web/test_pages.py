"""The pages' security headers (`idp.web.pages`): forms may submit only to us, plus the client an
answer is meant for, named by its exact origin."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode

import httpx
import pytest

from idp.web.pages import origin_source
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, PASSWORD, REDIRECT_URI, Idp, sign_in
from tests.idp.flows import user_tokens
from tests.idp.web.conftest import authorize_path

SIGNED_OUT = "https://portal.example/signed-out"


def _form_action(r: httpx.Response) -> str:
    directives = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    return directives["form-action"]


def test_forms_submit_only_to_us_outside_a_sign_in(idp: Idp) -> None:
    assert _form_action(idp.browser.get("/register")) == "'self'"
    sign_in(idp.browser, authorize_path(), idp.national_code)
    assert _form_action(idp.browser.get("/account/sessions")) == "'self'"
    assert _form_action(idp.browser.get("/end_session?client_id=portal")) == "'self'"


def test_sign_in_forms_may_continue_to_the_client(idp: Idp) -> None:
    """Browsers apply form-action to the redirects after a submission too: the sign-in form's
    answer ends at the client's redirect URI, so its origin (and only that) is allowed."""
    r = idp.browser.get(authorize_path())
    assert _form_action(idp.browser.get(r.headers["location"])) == "'self' https://portal.example"


def test_the_form_post_page_may_post_to_the_client(idp: Idp) -> None:
    r = sign_in(idp.browser, authorize_path(response_mode="form_post"), idp.national_code)
    assert r.status_code == 200 and f'action="{REDIRECT_URI}"' in r.text
    assert _form_action(r) == "'self' https://portal.example"


def test_the_sign_out_confirmation_may_continue_to_the_post_logout_uri(idp: Idp) -> None:
    """A sign-out request whose id_token_hint is for someone else asks first; once confirmed it
    redirects to the client's post-logout URI, so the confirmation form may lead there."""
    hint = user_tokens(idp, scope="openid")["id_token"]
    other = make_national_code("555000111")
    idp.services.people.add(new_person(other, "Reza", "Moradi", birthdate=date(1980, 5, 5), mobile=None,
                                       mobile_verified=False, now=datetime.now(UTC)))
    idp.services.people.set_password_hash(
        idp.services.people.get_by_national_code(other).id,  # type: ignore[union-attr]
        idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    browser = idp.new_browser()
    assert sign_in(browser, authorize_path(), other).status_code == 302
    query = urlencode({"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT})
    page = browser.get(f"/end_session?{query}")
    assert page.status_code == 200 and _form_action(page) == "'self' https://portal.example"
    csrf = CSRF_RE.search(page.text)
    assert csrf
    done = browser.post("/end_session", data={"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT,
                                              "confirm": "yes", "csrf_token": csrf.group(1)})
    assert done.status_code == 302 and done.headers["location"] == SIGNED_OUT


@pytest.mark.parametrize(("uri", "source"), [
    ("https://portal.example/callback?x=1", "https://portal.example"),
    ("https://Portal.Example:8443/cb", "https://portal.example:8443"),
    ("http://127.0.0.1:51004/cb", "http://127.0.0.1:51004"),
    ("http://[::1]:8080/cb", "http://[::1]:8080"),
    ("ir.gov.tax.app:/oauth", "ir.gov.tax.app:"),
    ("https:/no-host", None),  # would be "https:": every https site
    ("javascript:alert(1)", None),
    ("https://portal.example;script-src *", None),
    ("https://a b.example/cb", None),
])
def test_form_action_names_only_an_exact_origin(uri: str, source: str | None) -> None:
    assert origin_source(uri) == source
