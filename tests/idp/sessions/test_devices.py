"""The device a session is shown as on "Where you're signed in" (`idp.sessions.devices`)."""

from __future__ import annotations

import pytest

from idp.sessions.devices import describe

# Real User-Agent headers of the browsers citizens use.
USER_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 "
     "Mobile/15E148 Safari/604.1", "Chrome on iPad"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Safari/605.1.15", "Safari on macOS"),
    # Edge, Opera and Samsung Internet also say Chrome and Safari: they are named as themselves.
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.2592.68", "Edge on Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 OPR/111.0.0.0", "Opera on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
     "Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "FxiOS/127.0 Mobile/15E148 Safari/605.1.15", "Firefox on iPhone"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36", "Chrome on ChromeOS"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox on Linux"),
]


@pytest.mark.parametrize(("user_agent", "shown"), USER_AGENTS)
def test_common_browsers_are_named_with_their_system(user_agent: str, shown: str) -> None:
    assert describe(user_agent) == shown


def test_what_is_recognised_of_a_partial_header_is_shown_alone() -> None:
    assert describe("Firefox/128.0") == "Firefox"
    assert describe("Dalvik/2.1.0 (Linux; U; Android 13)") == "Android"


@pytest.mark.parametrize("user_agent", [None, "", "curl/8.5.0", "python-httpx/0.27", "<script>alert(1)</script>"])
def test_anything_else_is_an_unknown_device(user_agent: str | None) -> None:
    assert describe(user_agent) == "Unknown device"


def test_only_the_start_of_a_huge_header_is_read() -> None:
    assert describe("x" * 600 + " Firefox/128.0 (Windows)") == "Unknown device"
    assert describe("Firefox/128.0 (Windows) " + "x" * 100_000) == "Firefox on Windows"
