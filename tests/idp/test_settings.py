"""Configuration from `IDP_*` variables (`idp.settings`): what an operator sets is read, values that
would weaken the provider and settings that are no longer read stop start-up with a message saying
what to do, and no refusal repeats a secret."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from idp.settings import RetiredSetting, Settings, UnsafeSetting
from tests.idp.conftest import ISSUER


def test_cookies_cannot_be_made_insecure_on_an_https_issuer() -> None:
    with pytest.raises(UnsafeSetting, match="IDP_COOKIE_SECURE"):
        Settings(issuer=ISSUER, cookie_secure=False)
    assert Settings(issuer="http://127.0.0.1:8000", cookie_secure=False).secure_cookies is False


def test_trusted_proxies_setting_takes_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_TRUSTED_PROXIES", "10.0.0.0/24, 192.0.2.1 ,2001:db8::/32")
    assert Settings().trusted_proxies == (ip_network("10.0.0.0/24"), ip_network("192.0.2.1/32"),
                                          ip_network("2001:db8::/32"))
    monkeypatch.delenv("IDP_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == ()


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.internal", "10.0.0.0/33"])
def test_a_wrong_trusted_proxy_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("IDP_TRUSTED_PROXIES", value)
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings()


def test_the_old_forwarded_for_switch_is_an_error_that_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_TRUST_FORWARDED_FOR", "true")
    monkeypatch.setenv("IDP_KEK", "a-secret-that-must-not-appear")
    with pytest.raises(RetiredSetting, match="IDP_TRUSTED_PROXIES") as info:
        Settings()
    assert "a-secret-that-must-not-appear" not in str(info.value)


def test_renamed_limits_are_errors_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_LOGIN_ATTEMPTS_PER_ACCOUNT", "5")
    with pytest.raises(RetiredSetting, match="IDP_LOGIN_FAILURES_PER_ACCOUNT"):
        Settings()


def test_variables_are_read_with_the_idp_prefix_and_others_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "600")
    monkeypatch.setenv("IDP_SIGNING_ALG", "RS256")
    monkeypatch.setenv("IDP_NOT_A_SETTING", "whatever")
    monkeypatch.setenv("ACCESS_TOKEN_TTL", "1")
    settings = Settings()
    assert settings.access_token_ttl == 600 and settings.signing_alg == "RS256"
    assert Settings(access_token_ttl=120).access_token_ttl == 120


def test_the_issuer_must_be_an_http_url_and_loses_its_trailing_slash() -> None:
    assert Settings(issuer="https://idp.example.ir/").issuer == "https://idp.example.ir"
    assert Settings(issuer="https://idp.example.ir/").endpoint("/token") == "https://idp.example.ir/token"
    for wrong in ("idp.example.ir", "ftp://idp.example.ir", ""):
        with pytest.raises(ValidationError, match="issuer must be an http"):
            Settings(issuer=wrong)


@pytest.mark.parametrize(("issuer", "secure"), [
    ("https://idp.example.ir", True),
    ("http://127.0.0.1:8000", False),
    ("http://localhost:8000", False),
    # Plain http anywhere but loopback is not development: its cookies stay Secure.
    ("http://idp.internal", True),
])
def test_cookies_are_secure_unless_the_issuer_is_plain_http_on_loopback(issuer: str, secure: bool) -> None:
    assert Settings(issuer=issuer).secure_cookies is secure


def test_secure_cookies_may_be_asked_for_on_loopback() -> None:
    assert Settings(issuer="http://127.0.0.1:8000", cookie_secure=True).secure_cookies is True
    assert Settings(issuer=ISSUER, cookie_secure=True).secure_cookies is True


@pytest.mark.parametrize(("name", "value"), [
    ("login_failures_per_ip", 0), ("login_failures_per_account", -1), ("login_first_delay", 0),
    ("client_auth_failure_window", 0), ("device_cookie_ttl", 0), ("backchannel_max_attempts", 0),
    ("redis_timeout", 0), ("database_timeout", -1.0),
    # A new SMS code must always be allowed before the previous one expires.
    ("sms_resend_interval", 10_000), ("sms_resend_interval", -1),
    # Assertion ids are remembered durably for their lifetime: at most an hour.
    ("client_assertion_max_lifetime", 3601), ("client_assertion_max_lifetime", 0),
])
def test_limits_that_would_switch_a_protection_off_are_refused(name: str, value: float) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})


@pytest.mark.parametrize("prefix", ["{idp}:", "idp{", "idp}:"])
def test_a_redis_prefix_with_a_hash_tag_is_refused(prefix: str) -> None:
    # In a Redis Cluster it would put every key in one slot, on one primary.
    with pytest.raises(ValidationError, match="redis_prefix"):
        Settings(redis_prefix=prefix)


def test_a_retired_setting_passed_in_code_is_refused_too() -> None:
    with pytest.raises(RetiredSetting, match="IDP_LOGIN_FAILURE_WINDOW"):
        Settings(login_attempt_window=60)


def test_refusals_and_repr_never_show_the_secrets() -> None:
    secret = "kek-that-must-not-leak"
    with pytest.raises(UnsafeSetting) as refused:
        Settings(issuer=ISSUER, cookie_secure=False, kek=secret, sms_gateway_token=secret)
    assert secret not in str(refused.value)
    settings = Settings(kek=secret, sms_gateway_token=secret)
    assert settings.kek == secret and secret not in repr(settings) and secret not in str(settings)
