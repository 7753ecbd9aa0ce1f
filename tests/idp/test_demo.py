"""The demo data `make run` prints must actually work: sign in with it and redeem the code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from idp.demo import MACHINE_ID, PORTAL_ID, PORTAL_REDIRECT, seed
from tests.idp.conftest import ISSUER, Idp, sign_in


def test_demo_credentials_and_authorization_url_work_end_to_end(sqlite_idp: Idp) -> None:
    svc = sqlite_idp.services
    creds = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)
    again = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)  # re-running `make run` is fine
    assert again.password != creds.password

    r = sign_in(sqlite_idp.new_browser(), creds.authorize_url, again.national_code, again.password)
    assert r.status_code == 302 and r.headers["location"].startswith(PORTAL_REDIRECT + "?code=")
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    token = sqlite_idp.browser.post("/token", auth=(PORTAL_ID, again.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL_REDIRECT,
        "code_verifier": creds.code_verifier})
    assert token.status_code == 200 and {"id_token", "refresh_token"} <= token.json().keys()

    machine = sqlite_idp.browser.post("/token", auth=(MACHINE_ID, again.machine_secret),
                                      data={"grant_type": "client_credentials"})
    assert machine.status_code == 200 and machine.json()["scope"] == "inquiry.read"
