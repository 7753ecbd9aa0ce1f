"""Page language: Persian (right-to-left) by default, English on request.

English strings are the message ids; Persian lives in `locales/fa/LC_MESSAGES/*.po` (one catalogue per
area, merged), read with Babel once at start-up (no compile step needed after a clean clone).
"""

from __future__ import annotations

import gettext
import re
from datetime import date
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from levels.iranian_input import format_jalali, to_ascii_digits, to_persian_digits

LOCALES = ("fa", "en")
RTL = frozenset({"fa"})
_DIR = Path(__file__).parent / "locales"


def load_translations() -> dict[str, gettext.NullTranslations]:
    out: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}
    for locale in LOCALES:
        # One catalogue per area of the product (messages.po, consent.po, ...), merged.
        files = sorted((_DIR / locale / "LC_MESSAGES").glob("*.po"))
        if files:
            catalog = None
            for po in files:
                with po.open("rb") as fh:
                    part = read_po(fh, locale=locale)
                if catalog is None:
                    catalog = part
                    continue
                for message in part:
                    if message.id:
                        catalog[message.id] = message
            buf = BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            out[locale] = Translations(buf)
    return out


def pick_locale(ui_locales: str | None, cookie: str | None, default: str) -> str:
    """First supported tag of OIDC `ui_locales` (space-separated, e.g. "en-US fa"), else the
    language the person chose before (cookie), else the default."""
    for tag in (ui_locales or "").split():
        base = tag.split("-")[0].lower()
        if base in LOCALES:
            return base
    if cookie in LOCALES:
        return str(cookie)
    return default


def localize_digits(text: str, locale: str) -> str:
    """Numbers in Persian text are written with Persian digits."""
    return to_persian_digits(text) if locale == "fa" else text


def format_day(day: date, locale: str) -> str:
    """A calendar day as people read it: the Jalali calendar in Persian, ISO 8601 otherwise."""
    return format_jalali(day) if locale == "fa" else day.isoformat()


# A page's markup, cut into what the person reads and what they do not: comments, and tags with
# their attributes. Elements whose text is kept exactly as written: program text, and `<code>`, a
# value copied character for character into another program (an authenticator app's key).
_MARKUP = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
_KEPT = frozenset({"script", "style", "textarea", "code"})
_TAG_NAME = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
# Attributes a person reads (a placeholder shows the form of the answer): their values follow the page.
_READ_ATTRIBUTE = re.compile(r"""(\s(?:placeholder|title|alt|aria-label)=")([^"]*)(")""")
# Character references ("&#39;") are markup, not numbers: left as they are.
_NUMBER_OR_REFERENCE = re.compile(r"&#?[0-9a-zA-Z]+;|[0-9۰-۹٠-٩]+")


def _digits_of(locale: str, text: str) -> str:
    def one(match: re.Match[str]) -> str:
        found = match.group()
        if found.startswith("&"):
            return found
        return to_persian_digits(to_ascii_digits(found)) if locale == "fa" else to_ascii_digits(found)
    return _NUMBER_OR_REFERENCE.sub(one, text)


def localize_page_digits(html: str, locale: str) -> str:
    """Every number the page shows in the digits of its language: Persian digits on a Persian page,
    Latin ones on an English page. Only what a person reads changes: text and the attributes they
    read, never other attributes (form values, addresses, data), scripts or `<code>`; what a person
    types is read in either (`levels.iranian_input`)."""
    out: list[str] = []
    kept = 0  # depth inside elements whose text is kept
    position = 0
    for match in _MARKUP.finditer(html):
        text = html[position:match.start()]
        out.append(text if kept else _digits_of(locale, text))
        tag = match.group()
        name = _TAG_NAME.match(tag)
        if name and name.group(2).lower() in _KEPT:
            kept = max(0, kept - 1) if name.group(1) else kept + 1
        elif name and not name.group(1) and not kept:
            tag = _READ_ATTRIBUTE.sub(lambda m: m.group(1) + _digits_of(locale, m.group(2)) + m.group(3), tag)
        out.append(tag)
        position = match.end()
    tail = html[position:]
    out.append(tail if kept else _digits_of(locale, tail))
    return "".join(out)
