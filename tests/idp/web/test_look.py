"""The pages' frame outside a browser: the digits each language shows (one pass over the rendered
page, `idp.web.i18n.localize_page_digits`), the footer and emblem settings and what they refuse,
and the content security policy that lets our font in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from idp.settings import Settings
from idp.web.i18n import localize_page_digits
from idp.web.pages import Brand, security_headers
from tests.idp.conftest import Idp

PAGE = ('<html><title>Step 2</title><p title="level 3" data-n="42">Level 3 on 1405/09/12 13:03, '
        "it&#39;s &amp; &#x27;ok&#x27; ۷</p><input value=\"0012345679\" placeholder=\"1369/01/01\">"
        "<script>var n = 5;</script><code>JBSWY3DPEHPK3PXP 123</code><p>after 8</p></html>")


def test_a_persian_page_reads_in_persian_digits_and_keeps_what_is_not_read() -> None:
    fa = localize_page_digits(PAGE, "fa")
    assert "<title>Step ۲</title>" in fa and "Level ۳ on ۱۴۰۵/۰۹/۱۲ ۱۳:۰۳" in fa and "after ۸" in fa
    assert 'title="level ۳"' in fa and 'placeholder="۱۳۶۹/۰۱/۰۱"' in fa
    # Character references, data, form values, scripts and copied codes are left alone.
    assert "it&#39;s &amp; &#x27;ok&#x27;" in fa and 'data-n="42"' in fa and 'value="0012345679"' in fa
    assert "var n = 5;" in fa and "<code>JBSWY3DPEHPK3PXP 123</code>" in fa


def test_an_english_page_reads_in_latin_digits() -> None:
    en = localize_page_digits(PAGE, "en")
    assert "Level 3 on 1405/09/12 13:03" in en and "&#x27;ok&#x27; 7</p>" in en
    assert "۷" not in en


@pytest.mark.parametrize("junk", ["", "<", "<<>>", "<p", "1<2>3", "<!-- 1", "&#", "&#1;2", "<code>1", "</code>9"])
def test_broken_markup_never_fails(junk: str) -> None:
    for locale in ("fa", "en"):
        assert isinstance(localize_page_digits(junk, locale), str)


def test_fonts_come_from_us_and_the_emblem_from_its_origin() -> None:
    csp = security_headers(image_origins=Brand(logo_url="https://cdn.example/e.svg").image_origins())
    directives = dict(d.strip().split(" ", 1) for d in csp["Content-Security-Policy"].split(";"))
    assert directives["font-src"] == "'self'"
    assert directives["img-src"] == "'self' data: https://cdn.example"
    assert Brand(logo_url="/static/emblem.svg").image_origins() == []


@pytest.mark.parametrize("setting", ["help_url", "privacy_url", "contact_url"])
@pytest.mark.parametrize("value", ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "help"])
def test_footer_links_refuse_what_is_not_a_link(setting: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{setting: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["http://cdn.example/e.svg", "javascript:x", "data:image/svg+xml,x", "//x/e.svg"])
def test_the_emblem_is_ours_or_over_https(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(brand_logo_url=value)


def test_unset_footer_links_are_not_shown(sqlite_idp: Idp) -> None:
    page = sqlite_idp.browser.get("/register")
    assert page.status_code == 200
    assert "footer-links" not in page.text and 'class="emblem"' in page.text


def test_settings_links_are_shown_in_the_footer(make_idp: Callable[..., Idp]) -> None:
    idp = make_idp(help_url="https://help.example/", contact_url="tel:+98211111")
    page = idp.browser.get("/register")
    assert 'href="https://help.example/"' in page.text and 'href="tel:+98211111"' in page.text
    assert "Privacy" not in page.text and "حریم خصوصی" not in page.text
