"""What the pages that send SMS codes (step-up, registration, recovery) say when a code cannot be
sent right now (their 429s carry `idp.web.deps.retry_after`)."""

from __future__ import annotations

import gettext

from idp.errors import whole_seconds
from idp.web.i18n import localize_digits

TOO_MANY_CODES = "Too many codes were sent. Try again later."
CODE_SENT_MOMENTS_AGO = "We sent you a code a moment ago. Enter that code: it is still valid."
_WAIT = ("Please wait %(seconds)s second before asking for a new code.",
         "Please wait %(seconds)s seconds before asking for a new code.")


def wait_for_code(tr: gettext.NullTranslations, locale: str, seconds: float) -> str:
    """"Please wait N seconds before asking for a new code", in the page language."""
    n = whole_seconds(seconds)
    return localize_digits(tr.ngettext(*_WAIT, n) % {"seconds": n}, locale)
