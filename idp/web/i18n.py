"""Page language: Persian (right-to-left) by default, English on request.

English strings are the message ids; Persian lives in `locales/fa/LC_MESSAGES/*.po` (one catalogue per
area, merged), read with Babel once at start-up (no compile step needed after a clean clone).
"""

from __future__ import annotations

import gettext
from datetime import date
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from levels.iranian_input import format_jalali, to_persian_digits

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
