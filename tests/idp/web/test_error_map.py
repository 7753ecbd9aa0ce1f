"""The table from exceptions to wire errors (`idp.web.error_map`)."""

from __future__ import annotations

import logging

import orjson
import pytest
from starlette.responses import Response

from idp.errors import ClientAuthenticationThrottled, InvalidGrantError
from idp.storage.store import StoreUnavailable
from idp.web.error_map import ERRORS, api_response, refusal, wire_error
from levels.errors import LevelsError
from levels.sms import SmsDeliveryFailed
from levels.throttle import TooManyAttempts


def test_a_subclass_is_answered_by_its_nearest_base() -> None:
    row = wire_error(StoreUnavailable("Redis is down", retry_after=7))
    assert row is not None and (row.error, row.status) == ("temporarily_unavailable", 503)


def test_an_exception_outside_the_table_has_no_row() -> None:
    assert wire_error(ValueError("x")) is None
    with pytest.raises(LookupError):
        refusal(ValueError("x"))


def test_too_many_attempts_on_a_page() -> None:
    refused = refusal(TooManyAttempts(resets_in=61.2))
    assert (refused.message, refused.status) == ("Too many attempts. Try again later.", 429)
    assert refused.apply(Response("page")).headers["Retry-After"] == "62"


def test_sms_failure_on_a_page() -> None:
    refused = refusal(SmsDeliveryFailed("gateway said no"))
    assert refused.status == 503
    assert refused.apply(Response("page")).headers["Retry-After"] == "30"


def test_a_backend_down_at_an_api() -> None:
    response = api_response(StoreUnavailable("Redis is down", retry_after=4))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "4"
    assert response.headers["Cache-Control"] == "no-store"
    assert orjson.loads(response.body) == {
        "error": "temporarily_unavailable",
        "error_description": "The service is temporarily unavailable; try again shortly."}


def test_an_oauth_error_at_an_api_keeps_its_code_status_and_headers() -> None:
    response = api_response(ClientAuthenticationThrottled(2.5))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.headers["Pragma"] == "no-cache"
    assert orjson.loads(response.body) == {"error": "invalid_client",
                                           "error_description": ClientAuthenticationThrottled.DESCRIPTION}
    assert orjson.loads(api_response(InvalidGrantError("no")).body) == {"error": "invalid_grant",
                                                                         "error_description": "no"}


def test_anything_else_is_a_logged_500_that_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="idp"):
        response = api_response(RuntimeError("secret detail"), where="/token")
    assert response.status_code == 500
    assert b"secret detail" not in response.body
    assert orjson.loads(response.body)["error"] == "server_error"
    assert "unhandled error on /token" in caplog.text


def test_every_domain_row_is_keyed_on_a_domain_or_web_exception() -> None:
    assert all(issubclass(cls, Exception) for cls in ERRORS)
    assert issubclass(TooManyAttempts, LevelsError) and issubclass(SmsDeliveryFailed, LevelsError)
