"""Text messages that tell a person what was done with their account or their national code.

They carry no code and no link, only what happened and what to do; they are sent after the
response (so a page takes the same time whether one is sent or not), and one that fails is logged,
since nobody is waiting for it.
"""

from __future__ import annotations

import logging

from idp.services import Services, make_sms_gateway
from idp.settings import Settings
from levels.sms import SmsDeliveryFailed

log = logging.getLogger("idp.account.notices")

PASSWORD_CHANGED = {
    "fa": "گذرواژه ورود یکپارچه ملی شما تغییر کرد. اگر این کار را شما انجام نداده‌اید، همین حالا گذرواژه را"
          " دوباره بازنشانی کنید و با پشتیبانی تماس بگیرید.",
    "en": "Your national sign-in password was changed. If this wasn't you, reset it again right away and"
          " contact support.",
}

REGISTRATION_ATTEMPT = {
    "fa": "کسی خواست با کد ملی شما در ورود یکپارچه ملی حساب تازه‌ای بسازد؛ حسابی ساخته نشد و حساب شما"
          " تغییری نکرد. اگر خودتان بودید، شما از پیش حساب دارید: وارد شوید، یا اگر گذرواژه را فراموش"
          " کرده‌اید آن را بازنشانی کنید. اگر شما نبودید، کاری لازم نیست.",
    "en": "Someone tried to create a national sign-in account with your national code; none was created"
          " and your account was not changed. If it was you, you already have an account: sign in, or"
          " reset your password if you have forgotten it. If it wasn't you, you need not do anything.",
}


def notify_password_changed(svc: Services, mobile: str, locale: str) -> None:
    send_notice(svc.settings, mobile, PASSWORD_CHANGED, locale)


def send_notice(settings: Settings, mobile: str, messages: dict[str, str], locale: str) -> None:
    gateway = make_sms_gateway(settings)
    try:
        gateway.send(mobile, messages.get(locale, messages["en"]))
    except SmsDeliveryFailed as exc:
        log.warning("notice not sent: %s", exc)
    finally:
        close = getattr(gateway, "close", None)
        if close is not None:
            close()
