"""Text messages about the account (`idp.account.notices`): in the person's language, and a gateway
that fails never fails the page that sent them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from idp.account.notices import PASSWORD_CHANGED, REGISTRATION_ATTEMPT, send_notice
from idp.settings import Settings
from tests.faults import free_port


def _sent(outbox: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]


def test_the_notice_goes_in_the_persons_language_english_otherwise(tmp_path: Path) -> None:
    outbox = tmp_path / "sms.jsonl"
    settings = Settings(sms_outbox=outbox)
    send_notice(settings, "+989121234567", PASSWORD_CHANGED, "fa")
    send_notice(settings, "+989121234567", REGISTRATION_ATTEMPT, "en")
    send_notice(settings, "+989121234567", PASSWORD_CHANGED, "de")
    sent = _sent(outbox)
    assert [m["to"] for m in sent] == ["+989121234567"] * 3
    assert [m["text"] for m in sent] == [PASSWORD_CHANGED["fa"], REGISTRATION_ATTEMPT["en"], PASSWORD_CHANGED["en"]]


def test_notices_carry_no_code_and_no_link() -> None:
    for notice in (PASSWORD_CHANGED, REGISTRATION_ATTEMPT):
        assert set(notice) == {"fa", "en"}
        for text in notice.values():
            assert "http" not in text and not any(c.isdigit() for c in text)


def test_an_unreachable_gateway_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(sms_gateway_url=f"http://127.0.0.1:{free_port()}/send", sms_gateway_token="t0ken",
                        sms_outbox=tmp_path / "sms.jsonl")
    with caplog.at_level(logging.WARNING, logger="idp.account.notices"):
        send_notice(settings, "+989121234567", PASSWORD_CHANGED, "en")
    (record,) = [r for r in caplog.records if r.name == "idp.account.notices"]
    assert record.getMessage().startswith("notice not sent:")
    assert "t0ken" not in caplog.text and "+989121234567" not in caplog.text
    assert not (tmp_path / "sms.jsonl").exists()
