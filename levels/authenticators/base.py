"""The authenticator protocol: what every factor declares and does, and the registry of them.

An authenticator says what it is (method id, `FactorKind`, RFC 8176 amr values, how strongly it is
preferred when several would do), whether a person has it, how to challenge them at a step (send
a code, make WebAuthn options, or nothing) and how to check what they submitted. Factors a person
sets up themselves also implement `Enrollable`. The level policy and the step-up flow take all of
this from an `Authenticators` registry, so a new factor is a new module, not edits across the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from levels.errors import LevelsError
from levels.people import Person
from levels.policy import FactorKind


@dataclass(frozen=True, slots=True)
class Step:
    """One place a factor is asked: who, and what a challenge is bound to (the pending sign-in)."""

    person: Person
    binding: str  # e.g. the login transaction id: a challenge made for one step never answers another
    locale: str = "fa"


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the step page needs to ask for the factor; nothing secret.

    `data`: values the page shows or sends back (a masked number, WebAuthn options and their handle).
    `status`: a word the page turns into a message (`"ready"` when there is nothing to say).
    `retry_in`: seconds until the person may ask for another challenge, when `status` is about that.
    `refused`: the person asked for a new challenge too soon (the page answers 429 with Retry-After).
    """

    data: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    status: str = "ready"
    retry_in: float | None = None
    refused: bool = False


class EnrolmentFailed(LevelsError):
    """Setting up a factor failed. `message` is a message id the page can show; `data` is what the
    page needs to let the person try again (empty when they must start over)."""

    def __init__(self, message: str, data: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data: Mapping[str, object] = dict(data or {})


@runtime_checkable
class Authenticator(Protocol):
    """One factor. Methods are synchronous and may do I/O (they run in the handlers' threads)."""

    method: str  # the id in sessions, audit and forms: "pwd", "sms", ...
    kind: FactorKind
    amr: tuple[str, ...]  # RFC 8176 values for the id token
    preference: int  # lower is asked first when several factors would reach the level

    def available(self, person: Person) -> bool:
        """True if the person has this factor and can use it now."""
        ...

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        """Prepare the step page. `again`: the person asked for a new challenge (e.g. a new code)."""
        ...

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        """Check the submitted form; True only if it proves the factor for this person and step."""
        ...


@runtime_checkable
class Enrollable(Protocol):
    """A factor the person sets up on their account page: begin, finish, remove, and what they have."""

    def enrolled(self, person: Person) -> Mapping[str, object]:
        """What the account page shows about the person's credentials of this kind."""
        ...

    def begin_enrolment(self, person: Person, ticket: str) -> Mapping[str, object]:
        """Start setting up (kept under `ticket`, e.g. the session id); what the page needs to go on."""
        ...

    def finish_enrolment(self, person: Person, ticket: str, form: Mapping[str, str]) -> Mapping[str, object]:
        """Finish setting up; what the page shows once (e.g. recovery codes). `EnrolmentFailed` if
        the form does not prove the new credential."""
        ...

    def remove(self, person: Person, credential_id: str | None = None) -> bool:
        """Remove the person's credential (one of several if `credential_id`); True if one was."""
        ...


class Authenticators(Mapping[str, Authenticator]):
    """The registered authenticators by method id, most preferred first; what the policy and the
    flows derive their factor tables from."""

    def __init__(self, authenticators: Iterable[Authenticator]) -> None:
        ordered = sorted(authenticators, key=lambda a: (a.preference, a.method))
        self._by_method: dict[str, Authenticator] = {}
        for authenticator in ordered:
            if authenticator.method in self._by_method:
                raise ValueError(f"two authenticators for method {authenticator.method!r}")
            if not authenticator.amr:
                raise ValueError(f"authenticator {authenticator.method!r} declares no amr value")
            self._by_method[authenticator.method] = authenticator

    def __getitem__(self, method: str) -> Authenticator:
        return self._by_method[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_method)

    def __len__(self) -> int:
        return len(self._by_method)

    @property
    def kinds(self) -> Mapping[str, FactorKind]:
        """Method → kind, for `levels.policy.Policy`."""
        return MappingProxyType({m: a.kind for m, a in self._by_method.items()})

    @property
    def amr(self) -> Mapping[str, tuple[str, ...]]:
        """Method → amr values, for `levels.policy.Policy`."""
        return MappingProxyType({m: tuple(a.amr) for m, a in self._by_method.items()})

    @property
    def preference(self) -> Mapping[str, int]:
        """Method → rank (lower is asked first), for the step-up choice."""
        return MappingProxyType({m: a.preference for m, a in self._by_method.items()})

    def available(self, person: Person) -> frozenset[str]:
        """The methods the person can use right now."""
        return frozenset(m for m, a in self._by_method.items() if a.available(person))

    def enrollable(self) -> dict[str, Enrollable]:
        """The authenticators a person sets up on their account page, in preference order."""
        return {m: a for m, a in self._by_method.items() if isinstance(a, Enrollable)}
