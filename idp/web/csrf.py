"""CSRF tokens for every form, bound to whoever the browser is to us.

A form token is HMAC(key, purpose, holder, transaction):
- holder: the SSO session when the browser has one (its cookie, which only that browser knows),
  otherwise the pre-session CSRF cookie (anonymous pages: sign-in, registration, recovery);
- transaction: the login transaction the form continues, for the sign-in forms, "" elsewhere.

A token is therefore worthless outside the session or transaction it was issued for: a cookie and
token an attacker obtained in their own browser (and planted here, say from a sibling subdomain)
do not match the victim's session, and a sign-in form's token does not carry over to another
authorization request. The cookies are `__Host-` on https (`idp.web.cookies`), so they cannot be
planted in the first place; the binding holds even where they could be.

`idp.web.pages.Pages` decides the holder from the request; every form is checked there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

Purpose = Literal["session", "browser"]
# Longer values are not ours: a form token is 64 hex digits, our cookie values are far below this.
MAX_VALUE_LENGTH = 256


def _part(value: str) -> bytes:
    # Length-prefixed, so no choice of values can make two different triples sign the same bytes.
    raw = value.encode("utf-8", "replace")
    return len(raw).to_bytes(4, "big") + raw


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(24)

    def form_token(self, purpose: Purpose, holder: str, transaction: str = "") -> str:
        message = b"idp csrf v2" + _part(purpose) + _part(holder) + _part(transaction)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def check(self, purpose: Purpose, holder: str | None, transaction: str, form_token: str | None) -> bool:
        """Constant-time; never raises, whatever the browser sent (non-ASCII included)."""
        if not holder or not form_token or len(holder) > MAX_VALUE_LENGTH or len(form_token) > MAX_VALUE_LENGTH:
            return False
        expected = self.form_token(purpose, holder, transaction).encode()
        # compare_digest on str raises TypeError for non-ASCII text; bytes never do.
        return hmac.compare_digest(expected, form_token.encode("utf-8", "replace"))
