"""Device cookies (`idp.web.device_cookie`): a browser that signed in to an account is recognised
for that account only, by a signed cookie that never names the person and expires."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from idp.web.cookies import Cookies
from idp.web.device_cookie import MAX_ACCOUNTS, DeviceCookies

KEY = bytes(range(32))
SARA, REZA = "0012345679", "0044332210"


def _devices(key: bytes = KEY, *, secure: bool = True, ttl: int = 3600) -> DeviceCookies:
    cookie = Cookies(secure=secure).cookie("idp_device", samesite="strict", max_age=ttl)
    return DeviceCookies(key, cookie=cookie, ttl=ttl)


def _request(cookie: str | None, name: str = "__Host-idp_device") -> Request:
    headers = [(b"cookie", f"{name}={cookie}".encode())] if cookie is not None else []
    return Request({"type": "http", "method": "POST", "path": "/login", "headers": headers})


def _remember(devices: DeviceCookies, cookie: str | None, account: str) -> tuple[str, str]:
    """(the new cookie value, its whole Set-Cookie header) after a sign-in to `account`."""
    response = Response()
    devices.remember(_request(cookie, devices.name), response, account)
    header = response.headers["set-cookie"]
    return header.split(";")[0].split("=", 1)[1], header


def test_a_browser_is_recognised_for_the_account_it_signed_in_to_only() -> None:
    devices = _devices()
    cookie, _ = _remember(devices, None, SARA)
    device = devices.recognise(_request(cookie), SARA)
    assert device is not None
    assert devices.recognise(_request(cookie), REZA) is None
    assert devices.recognise(_request(None), SARA) is None
    # The cookie names neither the account nor anything that is not random or a keyed hash.
    assert SARA not in cookie and SARA[:-1] not in cookie


def test_the_cookie_is_host_only_secure_strict_and_lasts_its_ttl() -> None:
    _, header = _remember(_devices(ttl=180 * 24 * 3600), None, SARA)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert header.startswith("__Host-idp_device=")
    assert attributes["max-age"] == f"Max-Age={180 * 24 * 3600}" and attributes["samesite"].lower() == "samesite=strict"
    assert "secure" in attributes and "httponly" in attributes and attributes["path"] == "Path=/"
    assert "domain" not in attributes
    _, plain = _remember(_devices(secure=False), None, SARA)
    assert plain.startswith("idp_device=") and "secure" not in plain.lower()


def test_the_same_device_keeps_its_id_and_remembers_the_latest_five_accounts() -> None:
    devices = _devices()
    accounts = [f"00{n}1234567"[:10] for n in range(MAX_ACCOUNTS + 1)]
    cookie, _ = _remember(devices, None, accounts[0])
    device = devices.recognise(_request(cookie), accounts[0])
    for account in accounts[1:]:
        cookie, _ = _remember(devices, cookie, account)
    assert [devices.recognise(_request(cookie), a) for a in accounts] == [None] + [device] * MAX_ACCOUNTS
    # Signing in again to the oldest of the five brings it to the front: the next one drops out.
    cookie, _ = _remember(devices, cookie, accounts[1])
    cookie, _ = _remember(devices, cookie, accounts[0])
    assert devices.recognise(_request(cookie), accounts[1]) == device
    assert devices.recognise(_request(cookie), accounts[2]) is None


def test_a_changed_forged_or_foreign_cookie_is_a_stranger() -> None:
    devices = _devices()
    cookie, _ = _remember(devices, None, SARA)
    device, issued, tags, mac = cookie.split(".")
    bad_mac = mac[:-1] + ("B" if mac[-1] == "A" else "A")
    assert devices.recognise(_request(f"{device}.{issued}.{tags}.{mac}"), SARA) is not None
    for forged in (f"other.{issued}.{tags}.{mac}", f"{device}.{int(issued) + 3600}.{tags}.{mac}",
                   f"{device}.{issued}.{tags}.{bad_mac}", f"{device}.{issued}.{tags}", "", "." * 3,
                   cookie + "x" * 600):
        assert devices.recognise(_request(forged), SARA) is None, forged
    # Another deployment's key, or another use of ours, does not recognise it either.
    assert _devices(bytes(32)).recognise(_request(cookie), SARA) is None
    # A stranger's cookie is replaced by a new device at the next sign-in.
    fresh, _ = _remember(devices, f"{device}.{issued}.{tags}.{bad_mac}", SARA)
    assert fresh.split(".")[0] != device


def test_a_cookie_older_than_its_ttl_is_a_stranger_and_a_sign_in_renews_it() -> None:
    devices = _devices(ttl=1)
    cookie, _ = _remember(devices, None, SARA)
    device = devices.recognise(_request(cookie), SARA)
    assert device is not None
    time.sleep(2.1)
    assert devices.recognise(_request(cookie), SARA) is None
    renewed, _ = _remember(devices, cookie, SARA)
    assert devices.recognise(_request(renewed), SARA) not in (None, device)  # expired: a new device
