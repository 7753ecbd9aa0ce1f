"""What the pages that send SMS codes (step-up, registration, recovery) say when a code cannot be
sent right now, and the Retry-After that every 429 of theirs carries."""

from __future__ import annotations

import gettext
import math

from starlette.responses import Response

from idp.i18n import localize_digits

TOO_MANY_CODES = "Too many codes were sent. Try again later."
CODE_SENT_MOMENTS_AGO = "We sent you a code a moment ago. Enter that code: it is still valid."
_WAIT = ("Please wait %(seconds)s second before asking for a new code.",
         "Please wait %(seconds)s seconds before asking for a new code.")


def whole_seconds(seconds: float) -> int:
    """A wait as people and Retry-After count it: whole seconds, rounded up, at least one."""
    return max(1, math.ceil(seconds))


def wait_for_code(tr: gettext.NullTranslations, locale: str, seconds: float) -> str:
    """"Please wait N seconds before asking for a new code", in the page language."""
    n = whole_seconds(seconds)
    return localize_digits(tr.ngettext(*_WAIT, n) % {"seconds": n}, locale)


def retry_after(response: Response, seconds: float) -> Response:
    """Mark `response` (a 429) with when to try again (RFC 9110 §10.2.3)."""
    response.headers["Retry-After"] = str(whole_seconds(seconds))
    return response
