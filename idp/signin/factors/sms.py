"""A code by SMS on the step page: the masked number, "send a new code", and why none was sent."""

from __future__ import annotations

import gettext
from typing import ClassVar

from idp.signin.factors.base import FactorPage, StepView
from idp.signin.factors.deps import FactorDeps
from idp.signin.sms_codes import CODE_SENT_MOMENTS_AGO, TOO_MANY_CODES, wait_for_code
from levels.authenticators.base import Challenge
from levels.authenticators.sms_otp import SmsAuthenticator


class SmsPage(FactorPage):
    partial: ClassVar[str] = "factors/sms.html"
    wrong: ClassVar[str] = "That code is not correct or has expired."
    resend: ClassVar[bool] = True

    def step(self, challenge: Challenge, tr: gettext.NullTranslations, locale: str) -> StepView:
        notice: str | None = None
        if challenge.status == "reused":
            notice = CODE_SENT_MOMENTS_AGO
        elif challenge.status == "resent":
            notice = "A new code was sent."
        elif challenge.status == "too_soon":
            notice = wait_for_code(tr, locale, challenge.retry_in or 0.0)
        elif challenge.status == "too_many":
            notice = TOO_MANY_CODES
        return StepView(dict(challenge.data), notice, challenge.retry_in if challenge.refused else None)


PAGE = SmsPage()


def factor(deps: FactorDeps) -> tuple[SmsAuthenticator, FactorPage]:
    return SmsAuthenticator(deps.sms_otp, deps.store, hint_ttl=deps.settings.login_transaction_ttl), PAGE
