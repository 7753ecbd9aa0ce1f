"""Passkey registration and sign-in in a real headless Chromium with a CDP virtual authenticator.

The page is http://localhost:PORT/, answered by the browser context itself (nothing listens on the
port): http://localhost is a secure context, so WebAuthn runs there with rp_id "localhost".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from idp.storage.store import MemoryStore
from levels.authenticators.passkey import Passkeys
from levels.authenticators.passkey_sql import SqlPasskeyStore
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, new_person
from tests.idp.browser.harness import launch_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.browser

ORIGIN = "http://localhost:8765"

# Options and responses cross the page boundary as JSON with base64url strings for binary fields.
CEREMONIES_JS = """
const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const text = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const descriptors = (list) => (list || []).map((c) => ({...c, id: bytes(c.id)}));

window.createPasskey = async (optionsJson) => {
  const o = JSON.parse(optionsJson);
  const cred = await navigator.credentials.create({publicKey: {
    ...o, challenge: bytes(o.challenge), user: {...o.user, id: bytes(o.user.id)},
    excludeCredentials: descriptors(o.excludeCredentials),
  }});
  return JSON.stringify({
    id: cred.id, rawId: text(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: {
      clientDataJSON: text(cred.response.clientDataJSON),
      attestationObject: text(cred.response.attestationObject),
      transports: cred.response.getTransports(),
    },
  });
};

window.getPasskey = async (optionsJson) => {
  const o = JSON.parse(optionsJson);
  const cred = await navigator.credentials.get({publicKey: {
    ...o, challenge: bytes(o.challenge), allowCredentials: descriptors(o.allowCredentials),
  }});
  return JSON.stringify({
    id: cred.id, rawId: text(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: {
      clientDataJSON: text(cred.response.clientDataJSON),
      authenticatorData: text(cred.response.authenticatorData),
      signature: text(cred.response.signature),
      userHandle: cred.response.userHandle ? text(cred.response.userHandle) : null,
    },
  });
};
"""
PAGE = f"<!doctype html><title>passkeys</title><script>{CEREMONIES_JS}</script>"



@pytest.fixture
def chromium() -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


def test_passkey_registers_and_signs_in_with_a_virtual_authenticator(chromium: Browser, engine) -> None:
    now = datetime.now(UTC)
    person = new_person(make_national_code("001234567"), "Sara", "Ahmadi", birthdate=date(1990, 3, 21), now=now)
    SqlPersonStore(engine).add(person)
    passkeys = Passkeys(
        MemoryStore(), SqlPasskeyStore(engine), rp_id="localhost", rp_name="National IdP", origin=ORIGIN
    )

    context = chromium.new_context()
    page = context.new_page()

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=PAGE)

    page.route(f"{ORIGIN}/", serve)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})
    page.goto(f"{ORIGIN}/")
    assert page.evaluate("window.isSecureContext")

    options = passkeys.registration_options(person.id, "0012345678", "Sara Ahmadi")
    credential = passkeys.register(person.id, page.evaluate("(o) => window.createPasskey(o)", options), name="laptop")
    assert credential.person_id == person.id and "internal" in credential.transports

    # Usernameless: the browser finds the discoverable credential and returns the user handle.
    options, handle = passkeys.authentication_options(None)
    response = page.evaluate("(o) => window.getPasskey(o)", options)
    assertion = passkeys.authenticate(handle, response)
    assert assertion.person_id == person.id and assertion.credential_id == credential.credential_id
    assert assertion.user_verified

    options, handle = passkeys.authentication_options(person.id)
    assertion = passkeys.authenticate(handle, page.evaluate("(o) => window.getPasskey(o)", options), person.id)
    assert assertion.person_id == person.id
    assert json.loads(options)["allowCredentials"][0]["id"] == credential.credential_id
    context.close()
