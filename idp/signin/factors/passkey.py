"""Passkeys on the step page (WebAuthn options for the person's own credentials) and on the account
page (registration options on every visit, since the button may be pressed at any time)."""

from __future__ import annotations

from typing import ClassVar

from idp.signin.factors.base import FactorPage
from idp.signin.factors.deps import FactorDeps
from levels.authenticators.base import Enrollable
from levels.authenticators.passkey import PasskeyAuthenticator
from levels.people import Person


class PasskeyPage(FactorPage):
    partial: ClassVar[str] = "factors/passkey.html"
    wrong: ClassVar[str] = "The passkey could not be verified."
    account_partial: ClassVar[str | None] = "factors/passkey_account.html"
    enrol_paths: ClassVar[dict[str, str]] = {"/account/passkeys": "finish"}
    enrolled_name: ClassVar[str] = "passkey"
    added_notice: ClassVar[str | None] = "Your passkey was added."
    account_order: ClassVar[int] = 20

    def account(self, authenticator: Enrollable, person: Person, ticket: str) -> dict[str, object]:
        return {**authenticator.enrolled(person), **authenticator.begin_enrolment(person, ticket)}


PAGE = PasskeyPage()


def factor(deps: FactorDeps) -> tuple[PasskeyAuthenticator, FactorPage]:
    return PasskeyAuthenticator(deps.passkeys), PAGE
