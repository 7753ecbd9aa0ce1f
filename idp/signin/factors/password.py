"""The password on the step page (it is changed, not enrolled, on the account page)."""

from __future__ import annotations

from typing import ClassVar

from idp.signin.factors.base import FactorPage
from idp.signin.factors.deps import FactorDeps
from levels.authenticators.password import PasswordAuthenticator
from levels.people import Person


class PasswordPage(FactorPage):
    partial: ClassVar[str] = "factors/password.html"
    wrong: ClassVar[str] = "The password is not correct."

    def throttle_account(self, method: str, person: Person) -> str:
        # A password is the same secret wherever it is typed: the sign-in counters, so a borrowed
        # session gets no fresh allowance.
        return person.national_code


PAGE = PasswordPage()


def factor(deps: FactorDeps) -> tuple[PasswordAuthenticator, FactorPage]:
    return PasswordAuthenticator(deps.passwords, deps.people), PAGE
