"""The demo portals of `idp demo-rp` (`idp.demo.relying_party`): they receive codes and hear
every logout, and check a back-channel logout token as OIDC Back-Channel Logout 1.0 §2.6 asks a
relying party to."""

from __future__ import annotations

import time

import pytest

from idp.demo.data import PORTAL_ID, seed
from idp.demo.relying_party import BACKCHANNEL_EVENT, LogoutVerifier
from tests.idp.conftest import ISSUER, Idp, sign_in


def test_demo_single_logout_walk_through_reaches_both_demo_portals(sqlite_idp: Idp) -> None:
    """The single-logout walk-through `make run` prints, with `idp demo-rp` serving both portals."""
    import re
    import threading
    from urllib.parse import urlencode

    from idp.demo.data import HEALTH_ID, PORTAL_PATHS
    from idp.demo.relying_party import LogoutVerifier, make_server
    from tests.idp.conftest import CSRF_RE, TX_RE

    heard: list[str] = []
    server = make_server(0, LogoutVerifier(ISSUER, lambda: sqlite_idp.browser.get("/jwks").json()), PORTAL_PATHS,
                         say=heard.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rp = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        svc = sqlite_idp.services
        creds = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER, rp=rp)
        browser = sqlite_idp.new_browser()
        assert "code=" in sign_in(browser, creds.authorize_url, creds.national_code, creds.password).headers["location"]
        consent = browser.get(browser.get(creds.health_authorize_url + "&ui_locales=en").headers["location"])
        assert "Demo health insurance portal" in consent.text
        csrf, tx = CSRF_RE.search(consent.text), TX_RE.search(consent.text)
        assert csrf and tx
        allowed = browser.post("/login/consent", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                                       "decision": "allow"})
        assert "code=" in browser.get(allowed.headers["location"]).headers["location"]

        confirm = browser.get("/end_session?" + urlencode({"client_id": PORTAL_ID,
                                                            "post_logout_redirect_uri": f"{rp}/"}))
        csrf = CSRF_RE.search(confirm.text)
        assert csrf
        done = browser.post("/end_session", data={"client_id": PORTAL_ID, "post_logout_redirect_uri": f"{rp}/",
                                                  "confirm": "yes", "csrf_token": csrf.group(1)})
        assert done.status_code == 200 and f'<iframe src="{rp}/health/frontchannel-logout?' in done.text
        assert svc.deliverer.deliver_due().delivered == 2
        logged = sorted(line for line in heard if "back-channel logout:" in line)
        assert [re.match(r"\[([^\]]+)\]", line).group(1) for line in logged] == [HEALTH_ID, PORTAL_ID]  # type: ignore[union-attr]
        assert all(f"sub={sqlite_idp.person_id}" in line for line in logged)
    finally:
        server.shutdown()
        server.server_close()



def _logout_token(idp: Idp, typ: str = "logout+jwt", **changes: object) -> str:
    claims: dict[str, object] = {"iss": ISSUER, "aud": PORTAL_ID, "iat": int(time.time()), "jti": "j-1",
                                 "sub": idp.person_id, "sid": "s-1", "events": {BACKCHANNEL_EVENT: {}}}
    claims.update(changes)
    return idp.services.keyring.sign({k: v for k, v in claims.items() if v is not None}, typ=typ)


def test_the_demo_portal_accepts_a_genuine_logout_token(sqlite_idp: Idp) -> None:
    verifier = LogoutVerifier(ISSUER, lambda: sqlite_idp.browser.get("/jwks").json())
    assert verifier.verify(_logout_token(sqlite_idp), PORTAL_ID)["sid"] == "s-1"
    assert verifier.verify(_logout_token(sqlite_idp, aud=[PORTAL_ID], sid=None), PORTAL_ID)["sub"]


@pytest.mark.parametrize(("typ", "changes", "says"), [
    ("JWT", {}, "typ"),
    ("logout+jwt", {"aud": "someone-else"}, "audience"),
    ("logout+jwt", {"iss": "https://evil.example"}, "issuer"),
    ("logout+jwt", {"events": {"http://example.com/other": {}}}, "back-channel logout event"),
    ("logout+jwt", {"nonce": "n"}, "back-channel logout event"),
    ("logout+jwt", {"sid": None, "sub": None}, "neither sid nor sub"),
])
def test_the_demo_portal_refuses_what_a_relying_party_must_refuse(
    sqlite_idp: Idp, typ: str, changes: dict[str, object], says: str,
) -> None:
    verifier = LogoutVerifier(ISSUER, lambda: sqlite_idp.browser.get("/jwks").json())
    with pytest.raises(ValueError, match=says):
        verifier.verify(_logout_token(sqlite_idp, typ, **changes), PORTAL_ID)
