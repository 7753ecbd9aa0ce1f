"""Acting for a legal entity during sign-in, and whether a token's mandate still holds.

The rules (who may act, with which powers) are `legal_entities.rules`; this module applies them to an
authorization request: which entities the person may choose for this client and these scopes, the
choice made for the pending login transaction, and the `legal_entity` claim the tokens carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from idp.sessions.transactions import ActingChoices
from idp.storage.store import Store
from legal_entities.models import Mandate
from legal_entities.rules import entity_claim, may_act, powers_for_request
from legal_entities.service import LegalEntities
from levels.clock import utcnow

SCOPE = "legal_entity"
SELF = "self"  # the choice "Myself": the person acts in their own name


@dataclass(frozen=True, slots=True)
class Acting:
    """A person acting for an entity under one mandate, with the powers that apply to this client."""

    mandate: Mandate
    powers: frozenset[str]

    @property
    def mandate_id(self) -> str:
        return self.mandate.representation.id

    def claim(self) -> dict[str, object]:
        # The mandate id lets agencies keep it in their records and lets us check, on every refresh and
        # introspection, that the mandate still holds.
        return {**entity_claim(self.mandate, self.powers), "mandate_id": self.mandate_id}


class EntityAccess:
    def __init__(
        self, entities: LegalEntities, client_services: Callable[[str], frozenset[str]], store: Store, *,
        choice_ttl: int, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.entities = entities
        self._client_services = client_services
        self._choices = ActingChoices(store, choice_ttl)
        self._clock = clock

    def options(
        self, national_code: str, client_id: str, scopes: list[str], *, services: frozenset[str] | None = None,
    ) -> list[Acting]:
        """Every entity the person may act for now with this client and these requested scopes.

        `services`: the client's service scopes when the caller has already read them.
        """
        if services is None:
            services = self._client_services(client_id)
        requested = frozenset(s for s in scopes if s in services)
        now = self._clock()
        found: dict[str, Acting] = {}
        for mandate in self.entities.mandates_of(national_code):
            powers = powers_for_request(mandate, services, requested, now)
            if powers is None:
                continue
            # Several mandates for one entity (an officer who also received a delegation): offer the
            # entity once, under the mandate with the widest powers for this client.
            held = found.get(mandate.entity.id)
            if held is None or _wider(powers, held.powers):
                found[mandate.entity.id] = Acting(mandate, powers)
        return sorted(found.values(), key=lambda a: a.mandate.entity.name)

    def option(self, national_code: str, client_id: str, scopes: list[str], mandate_id: str) -> Acting | None:
        return next((a for a in self.options(national_code, client_id, scopes) if a.mandate_id == mandate_id), None)

    def still_holds(self, mandate_id: object) -> Mandate | None:
        """The mandate a token was issued under, while it holds: None once it is revoked or expired,
        or its entity is no longer active."""
        if not isinstance(mandate_id, str) or len(mandate_id) > 64:
            return None
        mandate = self.entities.mandate(mandate_id)
        if mandate is None or not may_act(mandate, self._clock()):
            return None
        return mandate

    def token_claim_holds(self, claim: object) -> bool:
        """For a token's `legal_entity` claim: does the mandate behind it still hold?"""
        return isinstance(claim, dict) and self.still_holds(claim.get("mandate_id")) is not None

    # -- the choice made for one login transaction ---------------------------------------------
    def chosen(self, tx_id: str) -> str | None:
        return self._choices.get(tx_id) or None

    def choose(self, tx_id: str, choice: str) -> None:
        self._choices.put(tx_id, choice)


def _wider(a: frozenset[str], b: frozenset[str]) -> bool:
    return "*" in a and "*" not in b or ("*" in a) == ("*" in b) and len(a) > len(b)
