"""Sending text messages: a file outbox for development and demos, an HTTP gateway for production.

Messages carry one-time codes, so their text is never logged and numbers are logged masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx

from levels.clock import utcnow
from levels.errors import LevelsError

log = logging.getLogger(__name__)

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class SmsDeliveryFailed(LevelsError):
    """The gateway did not accept the message; the person may ask for another one."""


class SmsGateway(Protocol):
    def send(self, to: str, text: str) -> None:
        """Hand one message for `to` (E.164, e.g. +989121234567) to the carrier.

        Return once the gateway has accepted it; raise `SmsDeliveryFailed` if it did not, and
        ValueError if `to` is not an E.164 number. Never log `text`.
        """
        ...


def mask_mobile(mobile: str) -> str:
    """`+989121234567` → `+98912***4567`: enough to recognize one's own line, not to call it."""
    if len(mobile) < 11:
        return "***" + mobile[-2:]
    return mobile[:6] + "***" + mobile[-4:]


def check_e164(to: str) -> None:
    """Raise ValueError unless `to` is an E.164 number."""
    if not _E164.fullmatch(to):
        raise ValueError("the recipient must be an E.164 number, e.g. +989121234567")


class OutboxGateway:
    """Appends each message to a JSON-lines file instead of sending it (development, demos, tests).

    Lines are `{"at": ISO 8601 UTC, "to": E.164, "text": ...}`. The file is created readable by its
    owner only, since it holds live sign-in codes.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def send(self, to: str, text: str) -> None:
        check_e164(to)
        line = json.dumps(
            {"at": self._clock().astimezone(UTC).isoformat(), "to": to, "text": text}, ensure_ascii=False
        )
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # One write of a whole line in append mode, so concurrent processes do not interleave lines.
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        log.info("sms to %s", mask_mobile(to))


class HttpSmsGateway:
    """POSTs `{"to", "text"}` as JSON to a gateway URL, with an optional bearer token.

    Any non-2xx answer, timeout or connection error becomes `SmsDeliveryFailed`; `transport` lets
    tests answer without a network.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float = 5.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._url = url
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

    def send(self, to: str, text: str) -> None:
        check_e164(to)
        try:
            response = self._client.post(self._url, json={"to": to, "text": text})
        except httpx.HTTPError as exc:
            # The exception text can include the request; keep only its kind.
            raise SmsDeliveryFailed(f"sms gateway unreachable ({type(exc).__name__})") from None
        if not response.is_success:
            raise SmsDeliveryFailed(f"sms gateway answered {response.status_code}")
        log.info("sms to %s", mask_mobile(to))

    def close(self) -> None:
        self._client.close()
