"""Every cookie the identity provider sets: its name on the wire and its attributes, in one place.

On an https issuer each cookie is `__Host-<name>`, Secure, Path=/ and without Domain: browsers
refuse a `__Host-` cookie that any sibling subdomain (or a plain-http page) tries to set, so no
other host can plant a session, CSRF or language cookie on our origin (cookie tossing). On plain
http loopback (development) the names are plain and not Secure, since browsers would drop
Secure cookies sent over http. Reading, setting and deleting go through the same `Cookie`, so a
cookie is always deleted under the name it was set with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

HOST_PREFIX = "__Host-"
SameSite = Literal["lax", "strict", "none"]


@dataclass(frozen=True, slots=True)
class Cookie:
    name: str  # as sent on the wire, prefix included
    secure: bool
    samesite: SameSite = "lax"
    max_age: int | None = None  # None: gone when the browser closes
    httponly: bool = True

    def read(self, request: Request) -> str | None:
        return request.cookies.get(self.name)

    def set(self, response: Response, value: str) -> None:
        # Path=/ and no Domain: what `__Host-` requires, and the same host-only scope on http.
        response.set_cookie(self.name, value, max_age=self.max_age, path="/", secure=self.secure,
                            httponly=self.httponly, samesite=self.samesite)

    def delete(self, response: Response) -> None:
        response.delete_cookie(self.name, path="/", secure=self.secure, httponly=self.httponly,
                               samesite=self.samesite)


class Cookies:
    """The cookies of one deployment; `secure` is `Settings.secure_cookies` (https issuer)."""

    def __init__(self, *, secure: bool, session_name: str = "idp_session") -> None:
        self.secure = secure
        # SameSite=Lax: the session must come along when a client's top-level redirect lands on /authorize.
        self.session = self.cookie(session_name)
        # Strict: only our own pages ever need the CSRF cookie.
        self.csrf = self.cookie("idp_csrf", samesite="strict")
        self.lang = self.cookie("idp_lang", max_age=365 * 24 * 3600)

    def cookie(self, name: str, *, samesite: SameSite = "lax", max_age: int | None = None,
               httponly: bool = True) -> Cookie:
        """Any cookie the app sets (e.g. a remembered-device cookie): same naming, same attributes."""
        return Cookie(HOST_PREFIX + name if self.secure else name, self.secure, samesite, max_age, httponly)
