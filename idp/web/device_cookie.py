"""Device cookies (OWASP "Slow down online guessing attacks with device cookies").

A browser that has signed in to an account gets a cookie naming that account, so a later sign-in
from it is counted on its own (see `levels.throttle`): guessing from anywhere else can slow and
stop those other places, but never lock the owner out of their own browser.

Value: `<device id>.<issued>.<account tags>.<mac>`. The device id is random and stays with the
browser; each account tag is a keyed hash of the account's national code, so the cookie never names
the person; up to `MAX_ACCOUNTS` tags, the latest sign-in first (a shared family computer stays
known to each of its people); the MAC covers the rest. It is re-issued at every sign-in and lasts
`ttl` seconds from the latest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from idp.web.cookies import Cookie

MAX_ACCOUNTS = 5


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class DeviceCookies:
    def __init__(self, key: bytes, *, cookie: Cookie, ttl: int) -> None:
        self._mac_key = hmac.new(key, b"device cookie mac", hashlib.sha256).digest()
        self._tag_key = hmac.new(key, b"device cookie account", hashlib.sha256).digest()
        self._cookie = cookie
        self._ttl = ttl

    @property
    def name(self) -> str:
        """The cookie's name on the wire (`__Host-` prefixed on https)."""
        return self._cookie.name

    def _tag(self, account: str) -> str:
        return _b64(hmac.new(self._tag_key, account.encode(), hashlib.sha256).digest()[:16])

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._mac_key, body.encode(), hashlib.sha256).digest()[:16])

    def _read(self, value: str | None) -> tuple[str, list[str]] | None:
        """The device id and account tags of a genuine, unexpired cookie; None for anything else."""
        if not value or len(value) > 512:
            return None
        body, _, mac = value.rpartition(".")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        device, issued, tags = (body.split(".") + ["", ""])[:3]
        if not device or not issued.isdigit() or not tags or time.time() - int(issued) > self._ttl:
            return None
        return device, tags.split("~")

    def recognise(self, request: Request, account: str) -> str | None:
        """The id of this browser if its cookie names `account` (it signed in to it before)."""
        known = self._read(self._cookie.read(request))
        if known is None or self._tag(account) not in known[1]:
            return None
        return known[0]

    def remember(self, request: Request, response: Response, account: str) -> None:
        """After a successful sign-in to `account`: (re)issue the cookie with the account first."""
        known = self._read(self._cookie.read(request))
        device, tags = known if known is not None else (_b64(secrets.token_bytes(16)), [])
        tag = self._tag(account)
        tags = [tag, *(t for t in tags if t != tag)][:MAX_ACCOUNTS]
        body = f"{device}.{int(time.time())}.{'~'.join(tags)}"
        self._cookie.set(response, f"{body}.{self._mac(body)}")
