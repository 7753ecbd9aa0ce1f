"""The sign-in page: language, CSRF, cookie flags, no user enumeration, rate limits."""

from __future__ import annotations

from urllib.parse import urlencode

from levels.iranian_input import make_national_code
from tests.idp.conftest import ISSUER, PASSWORD, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_login


def _login_page(idp: Idp, **extra: str) -> str:
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    r = idp.browser.get(f"{ISSUER}/authorize?{urlencode(params)}")
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    return r.headers["location"]


def test_login_page_is_persian_by_default_and_english_on_request(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get(_login_page(sqlite_idp))
    assert '<html lang="fa" dir="rtl">' in page.text and "کد ملی" in page.text and "Tax portal" in page.text
    english = sqlite_idp.browser.get(_login_page(sqlite_idp, ui_locales="en-US fa"))
    assert '<html lang="en" dir="ltr">' in english.text
    for copy in ("National code", "Password", "Sign in"):
        assert copy in english.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_language_switch_link_sets_english(sqlite_idp: Idp) -> None:
    url = _login_page(sqlite_idp)
    english = sqlite_idp.browser.get(url + "&lang=en")
    assert "National code" in english.text
    assert sqlite_idp.browser.cookies.get(sqlite_idp.services.cookies.lang.name) == "en"


def test_login_hint_prefills_the_national_code(sqlite_idp: Idp) -> None:
    persian = sqlite_idp.national_code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    page = sqlite_idp.browser.get(_login_page(sqlite_idp, login_hint=persian))
    assert f'value="{sqlite_idp.national_code}"' in page.text


def test_successful_sign_in_sets_a_hardened_session_cookie(idp: Idp) -> None:
    page = idp.browser.get(_login_page(idp))
    r = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert r.status_code == 303
    name = idp.services.cookies.session.name
    assert name == "__Host-idp_session"  # the issuer is https
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "secure" in lowered and "samesite=lax" in lowered


def test_persian_digits_in_the_national_code_are_accepted(sqlite_idp: Idp) -> None:
    persian = sqlite_idp.national_code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    page = sqlite_idp.browser.get(_login_page(sqlite_idp))
    assert submit_login(sqlite_idp.browser, page.text, persian, PASSWORD).status_code == 303


def test_unknown_person_and_wrong_password_get_the_same_answer(sqlite_idp: Idp) -> None:
    url = _login_page(sqlite_idp, ui_locales="en")
    page = sqlite_idp.browser.get(url)
    wrong = submit_login(sqlite_idp.browser, page.text, sqlite_idp.national_code, "not the password")
    unknown = submit_login(sqlite_idp.browser, page.text, make_national_code("987654321"), "not the password")
    assert wrong.status_code == unknown.status_code == 400
    message = "The national code or password is not correct."
    assert message in wrong.text and message in unknown.text
    assert sqlite_idp.services.cookies.session.name not in wrong.headers.get("set-cookie", "")


def test_invalid_national_code_is_explained(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get(_login_page(sqlite_idp, ui_locales="en"))
    r = submit_login(sqlite_idp.browser, page.text, "1234567890", PASSWORD)
    assert r.status_code == 400 and "Enter your 10-digit national code." in r.text


def test_form_without_valid_csrf_token_is_refused(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get(_login_page(sqlite_idp, ui_locales="en"))
    forged = page.text.replace('name="csrf_token" value="', 'name="csrf_token" value="x')
    r = submit_login(sqlite_idp.browser, forged, sqlite_idp.national_code, PASSWORD)
    assert r.status_code == 400 and "Your form expired" in r.text
    assert sqlite_idp.services.cookies.session.name not in r.headers.get("set-cookie", "")


def test_repeated_failures_from_one_place_make_it_wait(idp: Idp) -> None:
    page = idp.browser.get(_login_page(idp, ui_locales="en"))
    for _ in range(idp.services.settings.login_failures_before_delay):
        assert submit_login(idp.browser, page.text, idp.national_code, "guess").status_code == 400
    # Even the right password is refused while waiting, so guessing cannot continue.
    locked = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert locked.status_code == 429 and "Too many attempts" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= idp.services.settings.login_first_delay
    failures = idp.services.audit.recent(kind="login.failed", limit=10)
    assert len(failures) == idp.services.settings.login_failures_before_delay


def test_expired_transaction_shows_a_page_not_an_error(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/login?tx=does-not-exist&lang=en")
    assert r.status_code == 400 and "This sign-in link has expired" in r.text


def test_prompt_none_without_session_returns_login_required(idp: Idp) -> None:
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "none"}
    r = idp.browser.get(f"/authorize?{urlencode(params)}")
    assert r.status_code == 302
    assert r.headers["location"].startswith(REDIRECT_URI + "?error=login_required")
    assert "state=s" in r.headers["location"]


def test_prompt_login_and_max_age_zero_ask_again_despite_a_session(sqlite_idp: Idp) -> None:
    _, challenge = pkce_pair()
    base = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
            "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    assert "code=" in sign_in(sqlite_idp.browser, f"/authorize?{urlencode(base)}", sqlite_idp.national_code) \
        .headers["location"]
    # prompt=login asks who you are again; max_age=0 only re-asks the stale password.
    for extra, page in (({"prompt": "login"}, "/login?tx="), ({"max_age": "0"}, "/login/step?tx=")):
        r = sqlite_idp.browser.get(f"/authorize?{urlencode({**base, **extra})}")
        assert r.headers["location"].startswith(page), extra
        again = sign_in(sqlite_idp.browser, f"/authorize?{urlencode({**base, **extra})}", sqlite_idp.national_code)
        assert "code=" in again.headers["location"]


def test_language_links_survive_a_failed_sign_in(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get(_login_page(sqlite_idp))
    failed = submit_login(sqlite_idp.browser, page.text, sqlite_idp.national_code, "wrong")
    assert "کد ملی یا گذرواژه درست نیست." in failed.text
    import re

    link = re.search(r'href="(/login\?tx=[^"&]+&amp;lang=en)"', failed.text)
    assert link, "no English link on the failed sign-in page"
    english = sqlite_idp.browser.get(link.group(1).replace("&amp;", "&"))
    assert english.status_code == 200 and "National code" in english.text


def test_lockout_message_uses_persian_digits_in_persian(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get(_login_page(sqlite_idp))
    for _ in range(sqlite_idp.services.settings.login_failures_before_delay):
        submit_login(sqlite_idp.browser, page.text, sqlite_idp.national_code, "guess")
    locked = submit_login(sqlite_idp.browser, page.text, sqlite_idp.national_code, "guess")
    # The tests' first wait is 600 seconds.
    assert locked.status_code == 429 and "۱۰ دقیقه" in locked.text
