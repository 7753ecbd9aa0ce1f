"""Which authentication methods a person can use right now (to choose what a step-up asks): the
registered authenticators that say the person has them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from levels.people import Person

if TYPE_CHECKING:
    from idp.services import Services


def available_methods(svc: Services, person: Person) -> frozenset[str]:
    return svc.factors.authenticators.available(person)
