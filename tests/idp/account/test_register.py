"""Registration over HTTP: normalized input, the mobile proven by SMS, tier P1, back to the service."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from levels.iranian_input import make_national_code
from tests.faults import free_port
from tests.idp.conftest import CSRF_RE, ISSUER, REDIRECT_URI, Idp, _build, _settings, pkce_pair

NEW_CODE = make_national_code("004455667")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
NEW_PASSWORD = "lantern orbit pickle"


def _authorize_url(challenge: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "st", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{ISSUER}/authorize?{urlencode(params)}"


def _tx(browser: TestClient, challenge: str, **extra: str) -> str:
    r = browser.get(_authorize_url(challenge, **extra))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    return r.headers["location"].split("tx=")[1]


def _register(browser: TestClient, tx: str = "", **fields: str) -> httpx.Response:
    page = browser.get(f"/register?tx={tx}" if tx else "/register")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text)
    assert csrf
    data = {"national_code": NEW_CODE, "birthdate": "1369/01/01", "mobile": "09123456789",
            "password": NEW_PASSWORD, **fields}
    return browser.post("/register", data={"csrf_token": csrf.group(1), "tx": tx, **data})


def _submit_code(browser: TestClient, location: str, code: str) -> httpx.Response:
    page = browser.get(location)
    assert page.status_code == 200 and 'name="code"' in page.text
    csrf = CSRF_RE.search(page.text)
    assert csrf
    pending_id = parse_qs(urlparse(location).query)["id"][0]
    return browser.post("/register/verify", data={"csrf_token": csrf.group(1), "id": pending_id, "code": code})


def _outbox(idp: Idp) -> list[dict[str, str]]:
    path = idp.services.settings.sms_outbox
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_registration_normalizes_input_proves_the_mobile_and_continues_to_the_service(idp: Idp) -> None:
    verifier, challenge = pkce_pair()
    tx = _tx(idp.browser, challenge, ui_locales="en")
    r = _register(idp.browser, tx, national_code=NEW_CODE.translate(PERSIAN), birthdate="۱۳۶۹/۰۱/۰۱",
                  mobile="۰۹۱۲ ۳۴۵ ۶۷۸۹")
    assert r.status_code == 303 and r.headers["location"].startswith("/register/verify?id=")
    assert idp.services.people.get_by_national_code(NEW_CODE) is None
    assert _outbox(idp)[-1]["to"] == "+989123456789"
    verify = idp.browser.get(r.headers["location"])
    assert "+98912***6789" in verify.text

    done = _submit_code(idp.browser, r.headers["location"], idp.last_sms_code())
    assert done.status_code == 303 and done.headers["location"] == f"/authorize/resume?tx={tx}"
    assert any(h.startswith(f"{idp.services.cookies.session.name}=") for h in done.headers.get_list("set-cookie"))
    person = idp.services.people.get_by_national_code(NEW_CODE)
    assert person is not None
    assert person.birthdate == date(1990, 3, 21) and person.mobile == "+989123456789"
    assert person.mobile_verified and person.proofing_tier == 1 and person.status == "active"
    assert idp.services.passwords.verify(idp.services.people.password_hash(person.id), NEW_PASSWORD)
    assert [e.person_id for e in idp.services.audit.recent(kind="person.registered")] == [person.id]

    back = idp.browser.get(done.headers["location"])
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT_URI + "?code=")
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    tokens = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], KeySet.import_key_set(idp.browser.get("/jwks").json())).claims
    assert claims["sub"] == person.id and claims["acr"] == "urn:idp:loa:1"
    assert {"pwd", "sms"} <= set(claims["amr"])


def test_pending_registration_keeps_only_the_password_hash(sqlite_idp: Idp) -> None:
    r = _register(sqlite_idp.browser)
    pending_id = parse_qs(urlparse(r.headers["location"]).query)["id"][0]
    raw = sqlite_idp.services.store.get(f"register:{pending_id}")
    assert raw is not None and b"$argon2id$" in raw and NEW_PASSWORD.encode() not in raw


def test_without_a_pending_authorization_registration_ends_on_the_account_page(sqlite_idp: Idp) -> None:
    r = _register(sqlite_idp.browser)
    done = _submit_code(sqlite_idp.browser, r.headers["location"], sqlite_idp.last_sms_code())
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert sqlite_idp.browser.get("/account").status_code == 200


def test_common_password_is_refused(sqlite_idp: Idp) -> None:
    sqlite_idp.browser.get("/register?lang=en")
    r = _register(sqlite_idp.browser, password="password123")
    assert r.status_code == 400 and "one of the most common ones" in r.text
    assert _outbox(sqlite_idp) == [] and sqlite_idp.services.people.get_by_national_code(NEW_CODE) is None


def test_short_password_is_refused_in_persian_by_default(sqlite_idp: Idp) -> None:
    r = _register(sqlite_idp.browser, password="abc12")
    assert r.status_code == 400 and '<html lang="fa" dir="rtl">' in r.text
    assert "دست‌کم ۸ نویسه به کار ببرید." in r.text
    # What was typed comes back, except the password.
    assert f'value="{NEW_CODE}"' in r.text and "abc12" not in r.text
    assert _outbox(sqlite_idp) == []


def test_each_invalid_field_is_explained_in_english_when_asked(sqlite_idp: Idp) -> None:
    sqlite_idp.browser.get("/register?lang=en")
    r = _register(sqlite_idp.browser, national_code="1234567890", birthdate="1369/13/01", mobile="02112345678")
    assert r.status_code == 400
    for message in ("This is not a valid national code.", "There is no day 1369/13/01 in the Persian calendar.",
                    "Enter an Iranian mobile number starting with 09"):
        assert message in r.text
    persian = TestClient(sqlite_idp.browser.app, base_url=ISSUER, follow_redirects=False)
    r = _register(persian, birthdate="1369/13/01")
    assert "این تاریخ وجود ندارد" in r.text


def _same_shape(html: str) -> str:
    """The page with its per-request values (pending id, CSRF token) and numbers blanked out."""
    html = re.sub(r'(id=|name="(?:id|csrf_token)" value=")[^"&]+', r"\1…", html)
    return re.sub("[0-9۰-۹]+", "N", html)


def _resend(browser: TestClient, location: str) -> httpx.Response:
    page = browser.get(location)
    csrf = CSRF_RE.search(page.text)
    assert csrf
    pending_id = parse_qs(urlparse(location).query)["id"][0]
    return browser.post("/register/verify", data={"csrf_token": csrf.group(1), "id": pending_id, "resend": "1"})


def test_a_registered_national_code_gets_the_same_answers_and_nothing_is_created(idp: Idp) -> None:
    services, owner_code = idp.services, idp.national_code
    before = services.people.get(idp.person_id)
    password_hash = services.people.password_hash(idp.person_id)
    newcomer, prober = idp.browser, idp.new_browser()
    txs = [_tx(b, pkce_pair()[1], ui_locales="en") for b in (newcomer, prober)]

    # The form: the same status, redirect and cookies, after the same work (a hash, a code).
    new = _register(newcomer, txs[0])
    taken = _register(prober, txs[1], national_code=owner_code.translate(PERSIAN))
    assert new.status_code == taken.status_code == 303
    assert _same_shape(new.headers["location"]) == _same_shape(taken.headers["location"])
    assert sorted(new.headers.keys()) == sorted(taken.headers.keys())
    for r in (new, taken):
        pending_id = parse_qs(urlparse(r.headers["location"]).query)["id"][0]
        raw = services.store.get(f"register:{pending_id}")
        assert raw is not None and b"$argon2id$" in raw
    codes = [m for m in _outbox(idp) if m["to"] == "+989123456789"]
    assert len(codes) == 2 and _same_shape(codes[0]["text"]) == _same_shape(codes[1]["text"])

    # The code page, a wrong code and a resend too soon: the same pages and statuses.
    pages = [b.get(r.headers["location"]) for b, r in ((newcomer, new), (prober, taken))]
    assert pages[0].status_code == pages[1].status_code == 200
    assert _same_shape(pages[0].text) == _same_shape(pages[1].text)
    wrongs = [_submit_code(b, r.headers["location"], "000000" if c["text"].find("000000") < 0 else "111111")
              for b, r, c in ((newcomer, new, codes[0]), (prober, taken, codes[1]))]
    assert wrongs[0].status_code == wrongs[1].status_code == 400
    assert _same_shape(wrongs[0].text) == _same_shape(wrongs[1].text)
    resends = [_resend(newcomer, new.headers["location"]), _resend(prober, taken.headers["location"])]
    assert resends[0].status_code == resends[1].status_code == 429
    assert all(0 < int(r.headers["Retry-After"]) <= 60 for r in resends)
    assert _same_shape(resends[0].text) == _same_shape(resends[1].text)

    # The owner's proven number is told, once, in Persian; it carries no code and no typed number.
    (notice,) = [m for m in _outbox(idp) if m["to"] == "+989121234567"]
    assert "کسی خواست با کد ملی شما" in notice["text"] and "بازنشانی" in notice["text"]
    assert not re.search("[0-9]{6}", notice["text"]) and "6789" not in notice["text"]
    again = _register(idp.new_browser(), national_code=owner_code, mobile="09351112233")
    assert again.status_code == 303
    assert len([m for m in _outbox(idp) if m["to"] == "+989121234567"]) == 1

    # The right code proves the typed number: only now do the two differ. Nothing is created or
    # changed for the registered code, and nobody is signed in.
    code_for = {m["text"]: re.search("[0-9]{6}", m["text"]).group(0) for m in codes}  # type: ignore[union-attr]
    done = _submit_code(newcomer, new.headers["location"], code_for[codes[0]["text"]])
    assert done.status_code == 303 and services.people.get_by_national_code(NEW_CODE) is not None
    refused = _submit_code(prober, taken.headers["location"], code_for[codes[1]["text"]])
    assert refused.status_code == 409
    assert "No account was created with these details." in refused.text
    assert f'href="/login?tx={txs[1]}"' in refused.text and f'href="/recover?tx={txs[1]}"' in refused.text
    for detail in ("Sara", "Ahmadi", "4567", "1369", "1990"):
        assert detail not in refused.text
    assert "idp_session" not in prober.cookies
    assert services.people.get(idp.person_id) == before
    assert services.people.password_hash(idp.person_id) == password_hash
    assert [e.person_id for e in services.audit.recent(kind="person.registered")] == [
        services.people.get_by_national_code(NEW_CODE).id]  # type: ignore[union-attr]


def test_wrong_code_is_refused_and_creates_no_one(sqlite_idp: Idp) -> None:
    r = _register(sqlite_idp.browser)
    right = sqlite_idp.last_sms_code()
    wrong = "000000" if right != "000000" else "111111"
    refused = _submit_code(sqlite_idp.browser, r.headers["location"], wrong)
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert sqlite_idp.services.people.get_by_national_code(NEW_CODE) is None
    assert sqlite_idp.services.cookies.session.name not in sqlite_idp.browser.cookies
    # The right code still works afterwards (within the attempt limit) ...
    done = _submit_code(sqlite_idp.browser, r.headers["location"], right)
    assert done.status_code == 303
    # ... but only once.
    again = sqlite_idp.browser.get(r.headers["location"])
    assert again.status_code == 400


def test_csrf_token_is_required(sqlite_idp: Idp) -> None:
    sqlite_idp.browser.get("/register")
    r = sqlite_idp.browser.post("/register", data={
        "national_code": NEW_CODE, "birthdate": "1369/01/01", "mobile": "09123456789", "password": NEW_PASSWORD})
    assert r.status_code == 400 and _outbox(sqlite_idp) == []
    ok = _register(sqlite_idp.browser)
    location = ok.headers["location"]
    pending_id = parse_qs(urlparse(location).query)["id"][0]
    r = sqlite_idp.browser.post("/register/verify", data={"id": pending_id, "code": sqlite_idp.last_sms_code()})
    assert r.status_code == 400 and sqlite_idp.services.people.get_by_national_code(NEW_CODE) is None


def test_registrations_to_one_mobile_number_are_limited(sqlite_idp: Idp) -> None:
    answers = [_register(sqlite_idp.browser) for _ in range(6)]
    assert [r.status_code for r in answers] == [303] * 5 + [429]
    assert 3500 < int(answers[-1].headers["Retry-After"]) <= 3600
    assert len(_outbox(sqlite_idp)) == 5


def test_sign_in_page_links_to_registration_and_recovery_keeping_the_transaction(sqlite_idp: Idp) -> None:
    _, challenge = pkce_pair()
    tx = _tx(sqlite_idp.browser, challenge)
    page = sqlite_idp.browser.get(f"/login?tx={tx}")
    assert f'href="/register?tx={tx}"' in page.text and f'href="/recover?tx={tx}"' in page.text
    assert re.search("ایجاد حساب", page.text)


def test_registrations_from_one_address_are_limited(sqlite_idp: Idp) -> None:
    from idp.account.register import REGISTRATIONS_PER_IP

    statuses = [_register(sqlite_idp.browser, mobile=f"0912{n:07d}").status_code
                for n in range(REGISTRATIONS_PER_IP + 1)]
    assert statuses == [303] * REGISTRATIONS_PER_IP + [429]


def test_a_registered_citizen_reaches_level_two_through_the_registry(sqlite_idp: Idp) -> None:
    # Ali Karimi is in the simulated civil registry, and his mobile line is registered to him.
    verifier, challenge = pkce_pair()
    r = _register(sqlite_idp.browser, "", national_code="0023456711", birthdate="1985-07-10",
                  mobile="09120000002")
    done = _submit_code(sqlite_idp.browser, r.headers["location"], sqlite_idp.last_sms_code())
    assert done.status_code == 303
    page = sqlite_idp.browser.get(_authorize_url(challenge, acr_values="urn:idp:loa:2", ui_locales="en"))
    step = sqlite_idp.browser.get(page.headers["location"])
    assert "Verify with the registry now" in step.text
    tx = re.search(r'name="tx" value="([^"]+)"', step.text).group(1)  # type: ignore[union-attr]
    proofed = sqlite_idp.browser.post("/login/proofing", data={
        "csrf_token": CSRF_RE.search(step.text).group(1), "tx": tx})  # type: ignore[union-attr]
    assert proofed.status_code == 303
    # Password and SMS code were proven minutes ago at registration: no further question.
    back = sqlite_idp.browser.get(proofed.headers["location"])
    assert back.headers["location"].startswith(REDIRECT_URI + "?code=")
    code = parse_qs(urlparse(back.headers["location"]).query)["code"][0]
    tokens = sqlite_idp.browser.post("/token", auth=("portal", sqlite_idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    claims = jwt.decode(tokens.json()["id_token"],
                        KeySet.import_key_set(sqlite_idp.browser.get("/jwks").json())).claims
    assert claims["acr"] == "urn:idp:loa:2"
    person = sqlite_idp.services.people.get_by_national_code("0023456711")
    assert person is not None and person.proofing_tier == 2 and person.given_name == "علی"


def test_an_unreachable_sms_gateway_is_a_503_that_says_when_to_retry(tmp_path: Path) -> None:
    # The gateway's address has nothing listening: a real refused connection, not a simulated one.
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"sms_gateway_url": f"http://127.0.0.1:{free_port()}/send"})
    idp = _build(settings, MemoryStore())
    try:
        r = _register(idp.browser)
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert 'role="alert"' in r.text
        assert idp.services.people.get_by_national_code(NEW_CODE) is None
    finally:
        idp.services.engine.dispose()
