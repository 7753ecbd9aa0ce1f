"""CSRF protection for every form: a signed double-submit token.

A random value lives in an HttpOnly, SameSite=Strict cookie; the form carries HMAC(key, value).
An attacker's page can make the browser send the cookie, but cannot read it to forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "idp_csrf"


class CsrfTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(24)

    def form_token(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def check(self, cookie_value: str | None, form_token: str | None) -> bool:
        if not cookie_value or not form_token:
            return False
        return hmac.compare_digest(self.form_token(cookie_value), form_token)
