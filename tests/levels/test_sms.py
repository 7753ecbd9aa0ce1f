import json
import logging
import stat
from datetime import UTC, datetime

import httpx
import pytest

from levels.sms import HttpSmsGateway, OutboxGateway, SmsDeliveryFailed, SmsGateway, mask_mobile

MOBILE = "+989121234567"
NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)


def test_gateways_satisfy_the_protocol(tmp_path):
    gateways: list[SmsGateway] = [OutboxGateway(tmp_path / "o.jsonl"), HttpSmsGateway("http://sms.test/", None)]
    assert len(gateways) == 2


def test_mask_mobile():
    assert mask_mobile(MOBILE) == "+98912***4567"
    assert "1234567" not in mask_mobile("+1234567")


def test_outbox_appends_json_lines_and_creates_parent_dirs(tmp_path):
    path = tmp_path / "var" / "sms-outbox.jsonl"
    outbox = OutboxGateway(path, clock=lambda: NOW)
    outbox.send(MOBILE, "کد ورود شما: 123456")
    outbox.send("+989350000000", "second")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {"at": "2025-03-21T08:30:00+00:00", "to": MOBILE, "text": "کد ورود شما: 123456"},
        {"at": "2025-03-21T08:30:00+00:00", "to": "+989350000000", "text": "second"},
    ]
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_outbox_logs_the_masked_number_and_never_the_text(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="levels.sms")
    OutboxGateway(tmp_path / "o.jsonl").send(MOBILE, "Your sign-in code: 987654")
    assert "sms to +98912***4567" in caplog.text
    assert "987654" not in caplog.text and MOBILE not in caplog.text


def test_outbox_refuses_numbers_not_in_e164(tmp_path):
    with pytest.raises(ValueError):
        OutboxGateway(tmp_path / "o.jsonl").send("09121234567", "x")
    assert not (tmp_path / "o.jsonl").exists()


def test_http_gateway_posts_json_with_bearer_token(caplog):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    caplog.set_level(logging.DEBUG)
    gateway = HttpSmsGateway("https://sms.test/send", "t0ken", transport=httpx.MockTransport(answer))
    gateway.send(MOBILE, "Your sign-in code: 111222")
    (request,) = seen
    assert request.method == "POST" and str(request.url) == "https://sms.test/send"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert json.loads(request.content) == {"to": MOBILE, "text": "Your sign-in code: 111222"}
    assert "111222" not in caplog.text


def test_http_gateway_without_token_sends_no_authorization():
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200))
    HttpSmsGateway("https://sms.test/send", None, transport=transport).send(MOBILE, "x")
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_http_gateway_raises_on_non_2xx(status):
    transport = httpx.MockTransport(lambda r: httpx.Response(status, text="Your sign-in code: 111222"))
    with pytest.raises(SmsDeliveryFailed) as raised:
        HttpSmsGateway("https://sms.test/send", None, transport=transport).send(MOBILE, "Your sign-in code: 111222")
    assert str(status) in str(raised.value) and "111222" not in str(raised.value)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectError])
def test_http_gateway_raises_on_timeouts_and_connection_errors(error):
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)

    with pytest.raises(SmsDeliveryFailed) as raised:
        HttpSmsGateway("https://sms.test/send", None, transport=httpx.MockTransport(fail)).send(MOBILE, "x")
    assert raised.value.__cause__ is None


def test_http_gateway_times_out_against_a_silent_server():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/send"
        with pytest.raises(SmsDeliveryFailed):
            HttpSmsGateway(url, None, timeout=0.2).send(MOBILE, "x")
