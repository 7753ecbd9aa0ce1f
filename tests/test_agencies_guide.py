"""The examples of the agency guide (docs/agencies.md), run as written against a live provider.

Each Python block of the guide that starts with `# example: NAME` is executed as a module; the tests
call its functions the way an agency's portal or back end would, against the provider served by
uvicorn on a loopback port (its issuer is that address). The citizen's part of a sign-in (the
sign-in pages) is played by a cookie-keeping HTTP client.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from clients.services import Service
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from tests.idp.browser.harness import serve
from tests.idp.conftest import REDIRECT_URI, Idp, _build, _settings, sign_in, submit_step
from tests.relying_party import RelyingParty, rp  # noqa: F401 - the fixture

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "agencies.md"
EXAMPLE = re.compile(r"```python\n# example: (\w+)\n(.*?)```", re.S)
TREASURY_REDIRECT = "https://treasury.example/callback"


def example(name: str) -> SimpleNamespace:
    """The guide's example `name`, executed as a module."""
    found = dict(EXAMPLE.findall(GUIDE.read_text(encoding="utf-8")))
    assert name in found, f"docs/agencies.md has no example {name!r} (it has {sorted(found)})"
    namespace: dict[str, object] = {"__name__": f"agencies_guide_{name}"}
    exec(compile(found[name], f"docs/agencies.md ({name})", "exec"), namespace)  # noqa: S102 - our own guide
    return SimpleNamespace(**namespace)


def test_every_example_of_the_guide_is_run_here() -> None:
    names = {name for name, _ in EXAMPLE.findall(GUIDE.read_text(encoding="utf-8"))}
    assert names == {"authlib_sign_in", "fapi2_with_dpop", "token_exchange", "backchannel_logout"}


@dataclass
class Live:
    idp: Idp
    issuer: str
    citizen: httpx.Client  # the citizen's browser

    def signed_in(self, url: str) -> str:
        """Where the browser is sent back to after the citizen signs in at `url` (with the SMS code
        when the level needs a second factor)."""
        r = sign_in(self.citizen, url, self.idp.national_code)  # type: ignore[arg-type]
        if r.status_code == 200 and 'name="method" value="sms"' in r.text:
            done = submit_step(self.citizen, r.text, code=self.idp.last_sms_code())  # type: ignore[arg-type]
            r = self.citizen.get(done.headers["location"])
        assert r.status_code in (302, 303), r.text[:300]
        return r.headers["location"]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """The provider on SQLite and the in-process store, served on a loopback port, asking for DPoP
    nonces so that the guide's nonce handling is exercised too."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(
        update={"issuer": issuer, "dpop_require_nonce": True, "background_tasks": False})
    idp = _build(settings, MemoryStore())
    try:
        with serve(idp.browser.app, sock), httpx.Client(base_url=issuer, follow_redirects=False) as citizen:
            yield Live(idp, issuer, citizen)
    finally:
        idp.services.engine.dispose()


def _verified(live: Live, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(httpx.get(f"{live.issuer}/jwks").json())
    return dict(jwt.decode(token, keys).claims)


def test_signing_in_with_authlib_at_level_two(live: Live) -> None:
    guide = example("authlib_sign_in")
    live.idp.set_tier(2)
    url, saved = guide.start_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI, "openid profile")
    callback = live.signed_in(url)
    token, claims = guide.finish_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI, callback,
                                         saved)
    assert claims["sub"] == live.idp.person_id and claims["acr"] == "urn:idp:loa:2"
    assert set(claims["amr"]) >= {"pwd", "sms"}
    assert token["token_type"] == "Bearer"
    # The example refuses a response that names another provider (RFC 9207).
    with pytest.raises(ValueError, match="unexpected issuer"):
        guide.finish_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI,
                             callback.replace("iss=", "iss=x"), saved)


def test_a_fapi2_portal_pushes_its_request_and_uses_dpop_bound_tokens(live: Live) -> None:
    guide = example("fapi2_with_dpop")
    client_key = ECKey.generate_key("P-256", parameters={"kid": "treasury-1"})
    live.idp.services.clients.create(
        client_id="treasury", name="Treasury", profile="fapi2", token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [client_key.as_dict(private=False)]}, redirect_uris=[TREASURY_REDIRECT],
        scopes=["openid", "profile"])
    dpop_key = ECKey.generate_key("P-256")
    url, saved = guide.push_request(live.issuer, "treasury", client_key, TREASURY_REDIRECT, "openid profile")
    assert set(httpx.URL(url).params) == {"client_id", "request_uri"}
    callback = live.signed_in(url)
    tokens, userinfo = guide.redeem(live.issuer, "treasury", client_key, dpop_key, TREASURY_REDIRECT, callback,
                                    saved)
    access = _verified(live, tokens["access_token"])
    assert access["cnf"] == {"jkt": dpop_key.thumbprint()}
    assert userinfo["sub"] == live.idp.person_id and userinfo["given_name"] == "Sara"
    # Without a proof the bound token is refused, as a stolen one would be.
    stolen = httpx.get(f"{live.issuer}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert stolen.status_code == 401
    # The same request sent to /authorize directly, not pushed, is refused.
    plain = live.citizen.get("/authorize?" + urlencode({
        "client_id": "treasury", "response_type": "code", "redirect_uri": TREASURY_REDIRECT, "scope": "openid",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"}))
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]


def test_an_agency_asks_another_on_the_citizens_behalf(live: Live) -> None:
    sign_in_guide, guide = example("authlib_sign_in"), example("token_exchange")
    svc = live.idp.services
    svc.clients.create(client_id="civil-registry", name="Civil registry", redirect_uris=[],
                       grant_types=["client_credentials"], scopes=[])
    svc.services.add(Service("civil-registry", "registry.family", 1))
    svc.exchanges.allow("portal", "civil-registry", ["registry.family"])
    url, saved = sign_in_guide.start_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI, "openid",
                                             acr="urn:idp:loa:1")
    citizen_token, _ = sign_in_guide.finish_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI,
                                                    live.signed_in(url), saved)
    exchanged = guide.ask_other_agency(f"{live.issuer}/token", "portal", live.idp.portal_secret,
                                       citizen_token["access_token"], "civil-registry", "registry.family")
    claims = _verified(live, exchanged["access_token"])
    assert claims["aud"] == "civil-registry" and claims["act"] == {"sub": "portal"}
    assert claims["sub"] == live.idp.person_id and claims["scope"] == "registry.family"
    assert claims["acr"] == "urn:idp:loa:1"
    # A pair the operator did not allow is refused with the error the guide names.
    from authlib.integrations.base_client.errors import OAuthError

    with pytest.raises(OAuthError) as refused:
        guide.ask_other_agency(f"{live.issuer}/token", "portal", live.idp.portal_secret,
                               citizen_token["access_token"], "portal", "registry.family")
    assert refused.value.error == "invalid_target"


def test_a_portal_reads_the_logout_token_of_a_citizen_who_signed_out(
    live: Live, rp: RelyingParty  # noqa: F811 - the fixture
) -> None:
    sign_in_guide, guide = example("authlib_sign_in"), example("backchannel_logout")
    live.idp.services.clients.update("portal", backchannel_logout_uri=rp.url())
    url, saved = sign_in_guide.start_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI, "openid",
                                             acr="urn:idp:loa:1")
    token, id_claims = sign_in_guide.finish_sign_in(live.issuer, "portal", live.idp.portal_secret, REDIRECT_URI,
                                                    live.signed_in(url), saved)
    signed_out = live.citizen.get("/end_session?" + urlencode({"id_token_hint": token["id_token"]}))
    assert signed_out.status_code == 200
    assert live.idp.services.deliverer.deliver_due().delivered == 1
    claims = guide.read_logout_token(live.issuer, "portal", rp.requests[0].token)
    assert claims["sid"] == id_claims["sid"] and claims["sub"] == live.idp.person_id
    # An ID token is not a logout token.
    with pytest.raises(ValueError, match="not a logout token"):
        guide.read_logout_token(live.issuer, "portal", token["id_token"])
