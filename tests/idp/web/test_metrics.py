"""`/metrics`: who may scrape it, and that its counters move when the events they count happen, over
HTTP through the app on both backends; a real Redis outage; several uvicorn workers adding up."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from idp.services import Services
from idp.settings import Settings
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from tests.idp.conftest import (
    ISSUER,
    LOAD_BALANCER,
    PASSWORD,
    REDIRECT_URI,
    Idp,
    _build,
    _settings,
    one_loop,
    pkce_pair,
    sign_in,
    submit_login,
    submit_step,
)
from tests.idp.web.test_outages import Backends, providers
from tests.idp.web.test_outages import backends as backends  # noqa: F401 - the fixture, used below

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOKEN = "m" * 40


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def local(idp: Idp) -> TestClient:
    """A scraper on the provider's own machine."""
    client = TestClient(idp.browser.app, base_url=ISSUER, client=("127.0.0.1", 40000), follow_redirects=False)
    client.portal = idp.portal
    return client


def scrape(idp: Idp) -> Samples:
    r = local(idp).get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain") and r.headers["cache-control"] == "no-store"
    return parse(r.text)


def _authorize_url(**extra: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    query = httpx.QueryParams({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI,
        "scope": "openid profile offline_access", "state": "st", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256", "ui_locales": "en", **extra})
    return f"{ISSUER}/authorize?{query}", verifier


def test_a_sign_in_a_token_and_a_refused_token_are_counted(idp: Idp) -> None:
    before = scrape(idp)
    url, verifier = _authorize_url()
    done = sign_in(idp.browser, url, idp.national_code)
    code = parse_qs(urlparse(done.headers["location"]).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 200
    again = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    wrong = idp.browser.post("/token", auth=("portal", "not the secret"), data={"grant_type": "refresh_token",
                                                                                "refresh_token": "x"})
    assert wrong.status_code == 401
    after = scrape(idp)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("idp_sign_ins_total", outcome="success", level="1", method="pwd") == 1
    assert moved("idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert moved("idp_token_refusals_total", grant_type="authorization_code", error="invalid_grant") == 1
    assert moved("idp_token_refusals_total", grant_type="refresh_token", error="invalid_client") == 1
    # Requests by route template and status; latency per template.
    assert moved("idp_http_requests_total", route="/login", method="POST", status="303") == 1
    assert moved("idp_http_requests_total", route="/token", method="POST", status="200") == 1
    assert moved("idp_http_request_duration_seconds_count", route="/token", method="POST") == 3
    assert moved("idp_http_request_duration_seconds_bucket", route="/token", method="POST", le="+Inf") == 3


def test_failed_sign_ins_step_ups_and_refusals_are_counted(idp: Idp) -> None:
    idp.set_tier(2)
    before = scrape(idp)
    # Level 2: the password, then the SMS code (a wrong one first).
    url, _ = _authorize_url(acr_values="urn:idp:loa:2")
    step = sign_in(idp.browser, url, idp.national_code)
    assert submit_step(idp.browser, step.text, code="000000").status_code == 400
    assert submit_step(idp.browser, step.text, code=idp.last_sms_code()).status_code == 303
    # Another browser guesses the password until it must wait.
    browser = idp.new_browser()
    url, _ = _authorize_url()
    page = browser.get(browser.get(url).headers["location"])
    failures = idp.services.settings.login_failures_before_delay  # then the next attempt must wait
    for _ in range(failures):
        r = submit_login(browser, page.text, idp.national_code, "wrong password")
        assert r.status_code == 400
    refused = submit_login(browser, page.text, idp.national_code, PASSWORD)
    assert refused.status_code == 429
    after = scrape(idp)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("idp_sign_ins_total", outcome="failure", level="none", method="pwd") == failures
    assert moved("idp_rate_limit_refusals_total", limit="sign_in") == 1
    assert moved("idp_sign_ins_total", outcome="success", level="1", method="pwd") == 1
    assert moved("idp_step_ups_total", factor="sms", outcome="failure") == 1
    assert moved("idp_step_ups_total", factor="sms", outcome="success") == 1


def test_an_sms_code_refused_by_the_sending_limit_is_counted(make_idp) -> None:  # type: ignore[no-untyped-def]
    idp = make_idp(sms_resend_interval=0, sms_max_per_window=1)
    idp.set_tier(2)
    before = scrape(idp)
    url, _ = _authorize_url(acr_values="urn:idp:loa:2")
    step = sign_in(idp.browser, url, idp.national_code)
    assert submit_step(idp.browser, step.text, code=idp.last_sms_code()).status_code == 303
    # A second sign-in within the window: no second code.
    second = idp.new_browser()
    url, _ = _authorize_url(acr_values="urn:idp:loa:2")
    page = sign_in(second, url, idp.national_code)
    assert "Too many codes were sent. Try again later." in page.text
    after = scrape(idp)
    assert value(after, "idp_rate_limit_refusals_total", limit="sms_sends") - value(
        before, "idp_rate_limit_refusals_total", limit="sms_sends") == 1


def test_key_ages_and_the_outbox_are_read_when_scraped(idp: Idp) -> None:
    samples = scrape(idp)
    ages = {dict(labels)["kid"]: v for (name, labels), v in samples.items() if name == "idp_signing_key_age_seconds"}
    keys = idp.services.keyring.keys()
    assert {key.kid for key in keys} == set(ages)
    assert all(0 <= age < 600 for age in ages.values())
    assert value(samples, "idp_signing_key_active_seconds", alg="ES256") >= 0
    assert ("idp_signing_key_active_seconds", frozenset({("alg", "ES256")})) in samples
    assert value(samples, "idp_backchannel_outbox_pending") == 0
    idp.services.outbox.enqueue(sid="s1", person_id=idp.person_id, client_ids=["portal"])  # no logout URI: none
    idp.add_client("logout-rp", backchannel_logout_uri="https://rp.example/logout")
    idp.services.outbox.enqueue(sid="s1", person_id=idp.person_id, client_ids=["logout-rp"])
    assert value(scrape(idp), "idp_backchannel_outbox_pending") == 1


def test_the_raw_path_never_becomes_a_label(sqlite_idp: Idp) -> None:
    for path in ("/no-such-page", "/account/sessions/abc123", "/account/sessions/def456", "/static/idp.css",
                 "/static/missing.css", "/authorize?client_id=x"):
        sqlite_idp.browser.get(path)
    routes = {dict(labels)["route"] for (name, labels) in scrape(sqlite_idp) if name == "idp_http_requests_total"}
    assert {"unmatched", "/static/{path}", "/authorize"} <= routes
    assert not any("abc123" in route or "no-such" in route for route in routes)


def test_metrics_are_hidden_from_remote_clients_without_the_token(make_idp) -> None:  # type: ignore[no-untyped-def]
    idp = make_idp(metrics_token=TOKEN)
    remote = idp.new_browser()  # TestClient's peer, not a loopback address
    hidden = remote.get("/metrics")
    assert hidden.status_code == 404 and hidden.text == idp.browser.get("/no-such-page").text
    assert remote.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 404
    assert remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # Loopback: allowed without a token.
    assert local(idp).get("/metrics").status_code == 200

    # Behind the load balancer (a trusted proxy), the client is whoever it forwarded.
    proxied = TestClient(idp.browser.app, base_url=ISSUER, client=(LOAD_BALANCER, 5000))
    proxied.portal = idp.portal
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    # A peer that is no proxy of ours cannot make itself local by writing the header.
    assert remote.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404


def test_a_proxy_on_the_same_host_does_not_make_remote_scrapers_local(tmp_path: Path) -> None:
    # nginx on the provider's host, listed as trusted: the TCP peer is 127.0.0.1 for every client.
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"trusted_proxies": (ip_network("127.0.0.1/32"),)})
    with one_loop(_build(settings, MemoryStore())) as idp:
        behind = local(idp)
        assert behind.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
        assert behind.get("/metrics").status_code == 200


def test_a_metrics_token_shorter_than_32_characters_is_refused() -> None:
    from idp.settings import UnsafeSetting

    with pytest.raises(UnsafeSetting):
        Settings(metrics_token="short")


@pytest.mark.postgres
@pytest.mark.redis
def test_a_redis_outage_counts_store_errors(backends: Backends, tmp_path: Path) -> None:  # noqa: F811
    with providers(backends, tmp_path) as (provider,):
        scraper = httpx.Client(base_url=provider.base_url, timeout=10)  # from 127.0.0.1: local
        before = parse(scraper.get("/metrics").text)
        backends.redis.kill()
        browser = provider.client()
        url, _ = provider.authorize_url()
        r = browser.get(url)
        assert r.status_code == 503
        after = parse(scraper.get("/metrics").text)
        assert value(after, "idp_backend_errors_total", backend="store", error="unreachable") > value(
            before, "idp_backend_errors_total", backend="store", error="unreachable")
        assert value(after, "idp_http_requests_total", route="/authorize", method="GET", status="503") == value(
            before, "idp_http_requests_total", route="/authorize", method="GET", status="503") + 1


# -- several worker processes ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The real app under uvicorn with 2 workers on 127.0.0.1 and PROMETHEUS_MULTIPROC_DIR set."""
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    port = _free_port()
    env_settings = {
        "IDP_ISSUER": f"http://127.0.0.1:{port}", "IDP_DATABASE_URL": url,
        "IDP_KEK": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        "IDP_SMS_OUTBOX": str(tmp_path / "sms.jsonl"),
        "IDP_ACCESS_LOG": "false", "IDP_BACKGROUND_TASKS": "false",
    }
    svc = Services.build(Settings(**{k[4:].lower(): v for k, v in env_settings.items()}))
    svc.keyring.ensure()
    _, secret = svc.clients.create(client_id="backend", name="Back end", redirect_uris=[],
                                   grant_types=["client_credentials"], scopes=["inquiry.read"],
                                   audiences=["https://api.example"])
    svc.engine.dispose()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(env_settings, PROMETHEUS_MULTIPROC_DIR=str(multiproc))
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("uvicorn")), "--factory", "idp.web.asgi:create", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--no-access-log", "--no-proxy-headers"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", secret or "", multiproc
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_with_two_workers_the_counts_of_both_add_up(two_workers: tuple[str, str, Path]) -> None:
    base_url, secret, multiproc = two_workers

    def token(_: int) -> int:
        # A new connection each time, so both workers take some.
        return httpx.post(f"{base_url}/token", auth=("backend", secret), timeout=10,
                          data={"grant_type": "client_credentials"}).status_code

    def workers_counted() -> int:
        return len(list(multiproc.glob("counter_*.db")))  # one file per process that counted something

    before = parse(httpx.get(f"{base_url}/metrics", timeout=10).text)
    count = 0
    with ThreadPoolExecutor(8) as pool:
        while count < 400 and (count < 40 or workers_counted() < 2):
            assert set(pool.map(token, range(8))) == {200}
            count += 8
    assert workers_counted() == 2, "one worker took every request"
    after = parse(httpx.get(f"{base_url}/metrics", timeout=10).text)
    assert value(after, "idp_tokens_issued_total", grant_type="client_credentials") - value(
        before, "idp_tokens_issued_total", grant_type="client_credentials") == count
    assert value(after, "idp_http_requests_total", route="/token", method="POST", status="200") == count
    assert value(after, "idp_http_request_duration_seconds_count", route="/token", method="POST") == count
