"""The authenticator app (TOTP, or a recovery code) on the step page and on the account page."""

from __future__ import annotations

from typing import ClassVar

from idp.signin.factors.base import FactorPage
from idp.signin.factors.deps import FactorDeps
from levels.authenticators.base import EnrolmentFailed
from levels.authenticators.totp import TotpAuthenticator


class OtpPage(FactorPage):
    partial: ClassVar[str] = "factors/otp.html"
    wrong: ClassVar[str] = "That code is not correct."
    account_partial: ClassVar[str | None] = "factors/otp_account.html"
    enrol_paths: ClassVar[dict[str, str]] = {"/account/totp/start": "begin", "/account/totp/confirm": "finish"}
    enrolled_name: ClassVar[str] = "totp"
    account_order: ClassVar[int] = 10

    def failure_status(self, failure: EnrolmentFailed) -> int:
        # A wrong code is a bad form; a set-up that lapsed just starts again.
        return 400 if failure.data else 200


PAGE = OtpPage()


def factor(deps: FactorDeps) -> tuple[TotpAuthenticator, FactorPage]:
    return TotpAuthenticator(deps.totp, deps.credentials, deps.store, recovery_key=deps.recovery_key), PAGE
