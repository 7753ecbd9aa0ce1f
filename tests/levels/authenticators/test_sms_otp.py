import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from idp.storage.store import MemoryStore
from levels.authenticators.sms_otp import OtpStore, ResendTooSoon, SmsOtp
from levels.sms import SmsDeliveryFailed
from levels.throttle import TooManyAttempts

MOBILE = "+989121234567"
SUBJECT = "person-1"
NOW = 1_742_545_800.0
SECRET = b"k" * 32


class Phone:
    """An `SmsGateway` that keeps messages, and can be told to fail."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.down = False

    def send(self, to: str, text: str) -> None:
        if self.down:
            raise SmsDeliveryFailed("gateway down")
        self.messages.append((to, text))

    def last_code(self) -> str:
        return re.findall(r"[0-9]{6}", self.messages[-1][1])[0]


class Recording:
    """Wraps a store and keeps every key and value written, to show what the store learns."""

    def __init__(self, inner: OtpStore) -> None:
        self._inner = inner
        self.written: list[bytes] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self.written += [key.encode(), value]
        self._inner.set(key, value, ttl)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        self.written += [key.encode(), value]
        return self._inner.add(key, value, ttl)


@pytest.fixture
def phone() -> Phone:
    return Phone()


@pytest.fixture
def otp(store, phone) -> SmsOtp:
    return SmsOtp(store, phone, secret=SECRET, clock=lambda: NOW)


def test_both_stores_are_otp_stores(store):
    s: OtpStore = store
    assert s is store


def test_send_texts_a_six_digit_code_and_describes_the_challenge(otp, phone):
    challenge = otp.send(SUBJECT, MOBILE, "login")
    ((to, text),) = phone.messages
    assert to == MOBILE
    assert re.fullmatch(r"[0-9]{6}", phone.last_code())
    assert text.startswith("کد ورود شما: ") and "ندهید" in text
    assert (challenge.subject, challenge.purpose, challenge.mobile_hint) == (SUBJECT, "login", "+98912***4567")
    assert challenge.expires_at == datetime.fromtimestamp(NOW + 120, UTC)
    assert challenge.resend_at == datetime.fromtimestamp(NOW + 60, UTC)
    assert len(challenge.id) >= 32


def test_english_message_and_fallback_for_unknown_locales(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET)
    otp.send(SUBJECT, MOBILE, "login", locale="en")
    otp.send(SUBJECT, MOBILE, "mobile", locale="de")
    for _, text in phone.messages:
        assert text.startswith("Your sign-in code: ") and "Do not share it" in text


def test_codes_are_random(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, resend_after=0)
    codes = set()
    for i in range(5):
        otp.send(f"p{i}", MOBILE, "login")
        codes.add(phone.last_code())
    assert len(codes) > 1


def test_store_never_sees_the_code_or_the_subject(store, phone):
    recording = Recording(store)
    otp = SmsOtp(recording, phone, secret=SECRET)
    challenge = otp.send("0012345679", MOBILE, "login")
    code = phone.last_code().encode()
    assert recording.written
    assert not any(code in w or b"0012345679" in w for w in recording.written)
    assert otp.verify(challenge.id, "0012345679", "login", code.decode())


def test_right_code_verifies_once(otp, phone):
    challenge = otp.send(SUBJECT, MOBILE, "login")
    assert otp.is_pending(challenge.id)
    assert otp.verify(challenge.id, SUBJECT, "login", phone.last_code())
    assert not otp.verify(challenge.id, SUBJECT, "login", phone.last_code())
    assert not otp.is_pending(challenge.id)


def test_persian_and_arabic_digits_and_spaces_are_accepted(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, resend_after=0)
    to_persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    to_arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    for typed in (lambda c: c.translate(to_persian), lambda c: c.translate(to_arabic), lambda c: f" {c[:3]} {c[3:]}"):
        challenge = otp.send(SUBJECT, MOBILE, "login")
        assert otp.verify(challenge.id, SUBJECT, "login", typed(phone.last_code()))


def test_wrong_code_fails_and_the_right_one_still_works(otp, phone):
    challenge = otp.send(SUBJECT, MOBILE, "login")
    code = phone.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert not otp.verify(challenge.id, SUBJECT, "login", wrong)
    assert not otp.verify(challenge.id, SUBJECT, "login", "")
    assert otp.verify(challenge.id, SUBJECT, "login", code)


@pytest.mark.parametrize(("subject", "purpose"), [("person-2", "login"), (SUBJECT, "mobile"), ("person-2", "x")])
def test_code_is_bound_to_subject_and_purpose(otp, phone, subject, purpose):
    challenge = otp.send(SUBJECT, MOBILE, "login")
    assert not otp.verify(challenge.id, subject, purpose, phone.last_code())
    assert otp.verify(challenge.id, SUBJECT, "login", phone.last_code())


def test_unknown_challenge_fails(otp):
    assert not otp.verify("no-such-challenge", SUBJECT, "login", "123456")
    assert not otp.is_pending("no-such-challenge")


def test_challenge_is_destroyed_after_max_attempts(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, max_attempts=3)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    code = phone.last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(3):
        assert not otp.verify(challenge.id, SUBJECT, "login", wrong)
    assert not otp.is_pending(challenge.id)
    assert not otp.verify(challenge.id, SUBJECT, "login", code)


def test_concurrent_guesses_never_exceed_max_attempts(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, max_attempts=5)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    code = phone.last_code()
    guesses = [f"{n:06d}" for n in range(40) if f"{n:06d}" != code] + [code]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda g: otp.verify(challenge.id, SUBJECT, "login", g), guesses))
    assert not any(results)


def test_concurrent_right_codes_succeed_once(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, max_attempts=50)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    code = phone.last_code()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: otp.verify(challenge.id, SUBJECT, "login", code), range(16)))
    assert results.count(True) == 1


def test_challenge_expires_after_ttl(phone):
    now = [0.0]
    otp = SmsOtp(MemoryStore(clock=lambda: now[0]), phone, secret=SECRET, ttl=120)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    now[0] = 121
    assert not otp.is_pending(challenge.id)
    assert not otp.verify(challenge.id, SUBJECT, "login", phone.last_code())


def test_resend_too_soon_per_subject_and_purpose(otp, phone):
    otp.send(SUBJECT, MOBILE, "login")
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, MOBILE, "login")
    assert 55 < raised.value.retry_in <= 60
    otp.send(SUBJECT, MOBILE, "mobile")
    otp.send("person-2", MOBILE, "login")
    assert len(phone.messages) == 3


def test_resend_allowed_after_the_wait(phone):
    now = [0.0]
    otp = SmsOtp(MemoryStore(clock=lambda: now[0]), phone, secret=SECRET, resend_after=60)
    first = otp.send(SUBJECT, MOBILE, "login")
    first_code = phone.last_code()
    now[0] = 61
    second = otp.send(SUBJECT, MOBILE, "login")
    assert second.id != first.id
    # The earlier code stays valid until it expires: SMS can arrive out of order.
    assert otp.verify(first.id, SUBJECT, "login", first_code)


def test_max_sends_per_window(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, resend_after=0.001, max_sends=3, send_window=900)
    for _ in range(3):
        otp.send(SUBJECT, MOBILE, "login")
        time.sleep(0.01)
    with pytest.raises(TooManyAttempts) as raised:
        otp.send(SUBJECT, MOBILE, "login")
    assert 800 < raised.value.resets_in <= 900
    assert len(phone.messages) == 3
    otp.send(SUBJECT, MOBILE, "mobile")


def test_failed_delivery_leaves_no_challenge_and_allows_an_immediate_retry(otp, phone, store):
    phone.down = True
    with pytest.raises(SmsDeliveryFailed):
        otp.send(SUBJECT, MOBILE, "login")
    phone.down = False
    challenge = otp.send(SUBJECT, MOBILE, "login")
    assert otp.verify(challenge.id, SUBJECT, "login", phone.last_code())


def test_rejects_a_number_not_in_e164(otp, phone):
    with pytest.raises(ValueError):
        otp.send(SUBJECT, "09121234567", "login")
    assert phone.messages == []


def test_needs_a_secret(store, phone):
    with pytest.raises(ValueError):
        SmsOtp(store, phone, secret=b"")


def test_within_the_wait_the_code_still_valid_is_offered_instead_of_a_new_one(otp, phone):
    first = otp.send(SUBJECT, MOBILE, "login")
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, MOBILE, "login", locale="en")
    pending = raised.value.pending
    assert pending is not None and len(phone.messages) == 1
    assert (pending.id, pending.subject, pending.purpose, pending.mobile_hint) == (
        first.id, SUBJECT, "login", "+98912***4567")
    # From what the store has left of the code's lifetime and of the wait (it keeps its own time).
    assert abs((pending.expires_at - first.expires_at).total_seconds()) < 1
    assert abs((pending.resend_at - first.resend_at).total_seconds()) < 1
    assert otp.verify(pending.id, SUBJECT, "login", phone.last_code())


def test_the_code_offered_is_only_the_one_sent_to_the_same_number_for_the_same_purpose(otp, phone):
    otp.send(SUBJECT, MOBILE, "login")
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, "+989351112233", "login")
    assert raised.value.pending is None
    otp.send(SUBJECT, MOBILE, "recover")
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, MOBILE, "recover")
    assert raised.value.pending is not None and raised.value.pending.purpose == "recover"
    assert not otp.verify(raised.value.pending.id, SUBJECT, "login", phone.last_code())


def test_a_verified_code_lifts_the_wait_for_the_next_one(otp, phone):
    first = otp.send(SUBJECT, MOBILE, "login")
    assert otp.verify(first.id, SUBJECT, "login", phone.last_code())
    second = otp.send(SUBJECT, MOBILE, "login")
    assert second.id != first.id and len(phone.messages) == 2
    assert otp.verify(second.id, SUBJECT, "login", phone.last_code())


def test_a_code_used_up_by_wrong_guesses_is_not_offered_and_the_wait_stays(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, max_attempts=2, clock=lambda: NOW)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    wrong = f"{(int(phone.last_code()) + 1) % 1_000_000:06d}"
    for _ in range(2):
        assert not otp.verify(challenge.id, SUBJECT, "login", wrong)
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, MOBILE, "login")
    assert raised.value.pending is None and 55 < raised.value.retry_in <= 60
    assert len(phone.messages) == 1


def test_a_sign_in_arriving_while_the_message_is_on_its_way_is_offered_that_code(store):
    offered: list[object] = []

    class SlowPhone(Phone):
        def send(self, to: str, text: str) -> None:
            # Another sign-in for the same person asks while the gateway is still sending.
            with pytest.raises(ResendTooSoon) as raised:
                otp.send(SUBJECT, MOBILE, "login")
            offered.append(raised.value.pending)
            super().send(to, text)

    phone = SlowPhone()
    otp = SmsOtp(store, phone, secret=SECRET)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    assert [getattr(p, "id", None) for p in offered] == [challenge.id]


def test_a_failed_delivery_is_never_offered(store):
    phone = Phone()
    otp = SmsOtp(store, phone, secret=SECRET)
    phone.down = True
    with pytest.raises(SmsDeliveryFailed):
        otp.send(SUBJECT, MOBILE, "login")
    phone.down = False
    sent = otp.send(SUBJECT, MOBILE, "login")
    with pytest.raises(ResendTooSoon) as raised:
        otp.send(SUBJECT, MOBILE, "login")
    assert raised.value.pending is not None and raised.value.pending.id == sent.id


def test_the_store_never_sees_the_mobile_number(store, phone):
    recording = Recording(store)
    otp = SmsOtp(recording, phone, secret=SECRET)
    otp.send(SUBJECT, MOBILE, "login")
    with pytest.raises(ResendTooSoon):
        otp.send(SUBJECT, MOBILE, "login")
    assert not any(MOBILE.encode() in w or b"9121234567" in w for w in recording.written)


def test_past_the_window_limit_asking_again_is_still_too_many_not_too_soon(store, phone):
    otp = SmsOtp(store, phone, secret=SECRET, resend_after=60, max_sends=1, send_window=900)
    challenge = otp.send(SUBJECT, MOBILE, "login")
    assert otp.verify(challenge.id, SUBJECT, "login", phone.last_code())
    for _ in range(2):
        with pytest.raises(TooManyAttempts) as raised:
            otp.send(SUBJECT, MOBILE, "login")
        assert 800 < raised.value.resets_in <= 900
    assert len(phone.messages) == 1


# The step-up authenticator on top of SmsOtp: codes bound to one step, and what the page is told.

def _person():
    from levels.iranian_input import make_national_code
    from levels.people import new_person

    return new_person(make_national_code("001234567"), "Sara", "Ahmadi", mobile=MOBILE, mobile_verified=True,
                      now=datetime.now(UTC))


_PERSON = _person()


def _step(binding: str = "tx-1"):
    from levels.authenticators.base import Step

    return Step(_PERSON, binding, "en")


def test_step_codes_are_sent_once_bound_to_the_step_and_used_once(store, phone):
    from levels.authenticators.sms_otp import SmsAuthenticator

    sms = SmsAuthenticator(SmsOtp(store, phone, secret=SECRET), store, hint_ttl=600)
    step = _step()
    assert sms.available(step.person)
    first = sms.challenge(step)
    assert (first.status, first.data["mobile_hint"], first.refused) == ("sent", "+98912***4567", False)
    # Showing the page again neither sends nor says anything.
    assert sms.challenge(step).status == "ready" and len(phone.messages) == 1
    code = phone.last_code()
    assert not sms.verify(_step("tx-2"), {"code": code})  # another step's code
    assert sms.verify(step, {"code": code}) and not sms.verify(step, {"code": code})


def test_asking_again_too_soon_is_refused_with_the_wait(store, phone):
    from levels.authenticators.sms_otp import SmsAuthenticator

    sms = SmsAuthenticator(SmsOtp(store, phone, secret=SECRET, resend_after=60), store, hint_ttl=600)
    step = _step()
    sms.challenge(step)
    again = sms.challenge(step, again=True)
    assert again.status == "too_soon" and again.refused and 0 < (again.retry_in or 0) <= 60
    # A second sign-in moments later is bound to the code already on the phone.
    other = sms.challenge(_step("tx-2"))
    assert (other.status, other.refused) == ("reused", False)
    assert sms.verify(_step("tx-2"), {"code": phone.last_code()})
