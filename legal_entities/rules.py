"""The rules of acting for a legal entity, as pure functions of mandates and the time.

Kept free of storage so that login, token refresh, introspection and the delegation form all decide
the same way, and so the rules can be tested exhaustively without a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from legal_entities.days import last_day
from legal_entities.errors import EntitiesError
from legal_entities.models import ALL_POWERS, DELEGATE, EntityStatus, Mandate, Representation

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); services are scopes of that form.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_POWER_LENGTH = 128
_NOT_ACTIVE = {
    EntityStatus.SUSPENDED: "%(name)s is suspended: no one can act for it.",
    EntityStatus.DISSOLVED: "%(name)s is dissolved: no one can act for it.",
}


class DelegationRefused(EntitiesError, ValueError):
    """A delegation breaks a rule. `message` is an English sentence with %(name)s placeholders that
    the web layer translates before filling in `params` (dates as `date`, shown in the reader's
    calendar); `reason` is the filled-in English sentence."""

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        self.reason = message % {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()}
        super().__init__(self.reason)


MAX_ROLE_LENGTH = 64
_ROLE = re.compile("[a-z][a-z0-9_]*")


def is_role(text: object) -> bool:
    """A role as stored: a lowercase identifier, as the companies registry codes them (`ceo`, `signatory`)."""
    return isinstance(text, str) and len(text) <= MAX_ROLE_LENGTH and _ROLE.fullmatch(text) is not None


def is_power(token: object) -> bool:
    """True for a power that can be stored: a service scope token of at most 128 characters, `*` or `delegate`."""
    return isinstance(token, str) and len(token) <= MAX_POWER_LENGTH and _SCOPE_TOKEN.fullmatch(token) is not None


def invalid_powers(powers: Iterable[object]) -> list[str]:
    """The powers in `powers` that `is_power` rejects, as text for a message (empty if all are valid)."""
    return sorted(repr(p) for p in powers if not is_power(p))


def is_current(rep: Representation, now: datetime) -> bool:
    """True if the representation is in force at `now`: not revoked and inside its validity window."""
    return rep.revoked_at is None and rep.valid_from <= now and (rep.valid_until is None or now < rep.valid_until)


def may_act(mandate: Mandate, now: datetime) -> bool:
    """True if the representative may act for the entity at `now`: a suspended or dissolved entity has
    no one acting for it, whatever representations are stored."""
    return mandate.entity.status is EntityStatus.ACTIVE and is_current(mandate.representation, now)


def powers_for_client(powers: frozenset[str], client_services: frozenset[str]) -> frozenset[str]:
    """What a representation holding `powers` may do with a client offering `client_services` scopes.

    `{"*"}` if it holds every power; otherwise the services it holds that the client offers.
    `delegate` is never included: it is a power over the mandate itself, not a service of any client.
    """
    if ALL_POWERS in powers:
        return frozenset({ALL_POWERS})
    return (powers & client_services) - {DELEGATE}


def powers_for_request(
    mandate: Mandate, client_services: frozenset[str], requested_services: frozenset[str], now: datetime
) -> frozenset[str] | None:
    """The powers to state in a token for acting for the entity with this client, or None if the
    mandate does not allow it: not in force, nothing usable with this client, or a requested service
    the representative does not hold."""
    if not may_act(mandate, now):
        return None
    usable = powers_for_client(mandate.representation.powers, client_services)
    if not usable:
        return None
    if ALL_POWERS not in usable and not requested_services <= usable:
        return None
    return usable


def check_delegation(
    grantor: Mandate,
    to_national_code: str,
    powers: frozenset[str],
    valid_from: datetime,
    valid_until: datetime | None,
    now: datetime,
) -> None:
    """Raise `DelegationRefused` unless `grantor` may grant `powers` to `to_national_code` for the
    window [`valid_from`, `valid_until`).

    A representative may pass on only what they hold, only while they may act themselves, only if
    they hold `delegate`, and for no longer than their own mandate runs.
    """
    rep = grantor.representation
    name = grantor.entity.name
    if not may_act(grantor, now):
        if grantor.entity.status is not EntityStatus.ACTIVE:
            raise DelegationRefused(_NOT_ACTIVE[grantor.entity.status], name=name)
        raise DelegationRefused("Your mandate for %(name)s is not in force.", name=name)
    if DELEGATE not in rep.powers:
        raise DelegationRefused("Your mandate for %(name)s does not include the power to delegate.", name=name)
    if to_national_code == rep.national_code:
        raise DelegationRefused("You cannot delegate to yourself.")
    if not powers:
        raise DelegationRefused("Choose at least one power to delegate.")
    bad = invalid_powers(powers)
    if bad:
        raise DelegationRefused("These are not valid powers: %(powers)s.", powers=", ".join(bad))
    if ALL_POWERS not in rep.powers:
        beyond = sorted(powers - rep.powers)
        if beyond:
            raise DelegationRefused("You cannot delegate powers you do not hold: %(powers)s.", powers=", ".join(beyond))
    if valid_from < rep.valid_from:
        raise DelegationRefused("A delegation cannot start before your own mandate.")
    if valid_until is not None:
        if valid_until <= valid_from:
            raise DelegationRefused("A delegation must end after it starts.")
        if valid_until <= now:
            raise DelegationRefused("A delegation must end in the future.")
    if rep.valid_until is not None and (valid_until is None or valid_until > rep.valid_until):
        raise DelegationRefused(
            "A delegation cannot last longer than your own mandate, whose last day is %(last_day)s.",
            last_day=last_day(rep.valid_until),
        )


def fits_within(delegation: Representation, grantor: Representation) -> bool:
    """Whether a delegation stays within what `grantor` may pass on: the `delegate` power, no powers
    beyond the grantor's, and no longer than the grantor's term. Used when the registry renews an
    officer's mandate, to keep the delegations the renewed mandate still covers."""
    if DELEGATE not in grantor.powers:
        return False
    if ALL_POWERS not in grantor.powers and not delegation.powers <= grantor.powers:
        return False
    if grantor.valid_until is None:
        return True
    return delegation.valid_until is not None and delegation.valid_until <= grantor.valid_until


def entity_claim(mandate: Mandate, powers: frozenset[str]) -> dict[str, object]:
    """The `legal_entity` claim of a token issued for acting for the entity with `powers`."""
    return {
        "national_id": mandate.entity.national_id,
        "name": mandate.entity.name,
        "role": mandate.representation.role,
        "powers": sorted(powers),
    }
