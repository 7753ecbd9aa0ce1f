"""What an administrator does to a person's account, in one place for the `idp people` commands
(and any other operator tool): disable and enable it, lift the account-wide sign-in block, remove a
second factor, and list or end its sessions. Each change is audited with the operator who made it.

A disabled person is refused at sign-in, at the token endpoint and at userinfo (each checks the
status); disabling also ends every open session at once, so their clients hear of it by back-channel
logout and the refresh tokens of those sessions stop working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from idp.account.activate import issue_activation
from idp.services import Services, make_sms_gateway
from idp.sessions.logout import EndedSession
from idp.sessions.register import SessionRecord
from levels.authenticators.base import Enrollable
from levels.people import Person

__all__ = ["BlocksOutOfReach", "CannotActivate", "NotEnrollable", "PeopleAdmin"]


class BlocksOutOfReach(RuntimeError):
    """The sign-in blocks are in the memory of the running provider (no shared store), where a
    command in another process cannot reach them."""


class CannotActivate(ValueError):
    """The person cannot be sent an activation code: no mobile number, or a password already set."""


class NotEnrollable(ValueError):
    """The factor named is not one a person sets up (and so not one to remove)."""


@dataclass(frozen=True, slots=True)
class PeopleAdmin:
    svc: Services
    operator: str  # who is acting, for the audit log ("cli", an operator's id)
    # What kind of actor `operator` is: a person at the command line, or the admin API's operator
    # client ("client", so the audit log names `client:<client_id>`).
    kind: str = "operator"
    # True inside the running provider (the admin API): its in-process store is where the sign-in
    # blocks are, so `unlock` reaches them even without a shared store.
    in_process: bool = False

    @property
    def actor(self) -> str:
        """Who the audit log says acted."""
        return f"{self.kind}:{self.operator}"

    @property
    def _actor(self) -> str:
        return self.actor

    def sign_out(self, person: Person) -> list[EndedSession]:
        """End every session of the person on every device (their clients are told)."""
        return self.svc.logout.end_all(person.id, reason="operator", actor=self._actor)

    def disable(self, person: Person) -> list[EndedSession]:
        """Stop the person signing in anywhere, and end the sessions they have."""
        if self.svc.people.set_status(person.id, "disabled"):
            self.svc.audit.record("person.disabled", actor=self._actor, person_id=person.id)
        return self.svc.logout.end_all(person.id, reason="operator", actor=self._actor)

    def enable(self, person: Person) -> bool:
        """Let a disabled person sign in again; False if they were not disabled."""
        changed = self.svc.people.set_status(person.id, "active")
        if changed:
            self.svc.audit.record("person.enabled", actor=self._actor, person_id=person.id)
        return changed

    def unlock(self, person: Person) -> None:
        """Lift the block that too many failed sign-ins from unknown places put on the account.
        Raises `BlocksOutOfReach` without a shared store: the blocks are in the provider's memory."""
        if self.svc.settings.redis_url is None and not self.in_process:
            raise BlocksOutOfReach(
                "sign-in blocks are kept in the memory of the running provider (IDP_REDIS_URL is not set), which"
                f" this command cannot reach; they lift by themselves within {self.svc.settings.login_failure_window}"
                " seconds of the last failure")
        self.svc.throttle.forget_account(person.national_code)
        self.svc.audit.record("person.unlocked", actor=self._actor, person_id=person.id)

    def factors(self) -> list[str]:
        """The factors a person sets up, and so the ones that can be removed."""
        return [m for m, a in self.svc.factors.authenticators.items() if isinstance(a, Enrollable)]

    def remove_factor(self, person: Person, method: str, credential_id: str | None = None) -> bool:
        """Remove the person's `method` factor (one passkey if `credential_id`); False if they had none."""
        authenticator = self.svc.factors.authenticators.get(method)
        if not isinstance(authenticator, Enrollable):
            raise NotEnrollable(f"{method!r} is not one of {', '.join(self.factors())}")
        removed = authenticator.remove(person, credential_id)
        if removed:
            detail = {"method": method, **({"credential_id": credential_id} if credential_id else {})}
            self.svc.audit.record("factor.removed", actor=self._actor, person_id=person.id, detail=detail)
        return removed

    def activate(self, person: Person, locale: str = "fa") -> datetime:
        """Text the person a one-time activation code for `/activate`, where they choose a password
        (someone an administrator added has none); return when the code expires. Raises
        `CannotActivate` for a person without a mobile number or with a password already (they use
        `/recover`), and `SmsDeliveryFailed` if the message could not be sent (the code is issued;
        sending again issues a new one)."""
        if not person.mobile:
            raise CannotActivate("the person has no mobile number: add one, or send them to a counter office")
        if self.svc.people.password_hash(person.id) is not None:
            raise CannotActivate("the person has a password already: they can reset it at /recover")
        issued, texts = issue_activation(self.svc, person, actor=self._actor)
        gateway = make_sms_gateway(self.svc.settings)
        try:
            gateway.send(person.mobile, texts.get(locale, texts["en"]))
        finally:
            close = getattr(gateway, "close", None)
            if close is not None:
                close()
        return issued.expires_at

    def sessions(self, person: Person) -> list[SessionRecord]:
        """The person's open sessions, most recently used first."""
        return self.svc.sessions.register.open_for(person.id, datetime.now(UTC))
