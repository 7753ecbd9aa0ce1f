"""Which authentication methods a person can use right now (to choose what a step-up asks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from levels.people import Person

if TYPE_CHECKING:
    from idp.services import Services


def available_methods(svc: Services, person: Person) -> frozenset[str]:
    methods: set[str] = set()
    if svc.people.password_hash(person.id):
        methods.add("pwd")
    if person.mobile and person.mobile_verified:
        methods.add("sms")
    if svc.credentials.has_totp(person.id):
        methods.add("otp")
    if svc.passkeys.list(person.id):
        methods.add("passkey")
    return frozenset(methods)
