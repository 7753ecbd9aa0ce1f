"""The web side of a factor: what the step page and the account page show for it.

`levels.authenticators` says what a factor is and how it is challenged and checked; a `FactorPage`
says how a page shows it (its template partial, its messages) and `Factors` pairs each registered
authenticator with its page. One module per factor in this package, one partial per factor in
`idp/web/templates/factors/`.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from levels.authenticators.base import Authenticator, Authenticators, Challenge, Enrollable, EnrolmentFailed
from levels.people import Person


@dataclass(frozen=True, slots=True)
class StepView:
    """What the step page shows for a challenge: the partial's values, a notice (a message id or a
    translated sentence) and, when the person asked again too soon, the seconds to wait (a 429)."""

    values: Mapping[str, object] = field(default_factory=dict)
    notice: str | None = None
    retry_after: float | None = None


class FactorPage:
    """How the pages show one factor; each factor module subclasses it (defaults: a code typed in)."""

    partial: ClassVar[str] = "factors/code.html"  # the step page's form for this factor
    wrong: ClassVar[str] = "That code is not correct."  # message id when the form does not verify
    resend: ClassVar[bool] = False  # the step page offers "send a new code" (posts `resend`)
    # The account page: its section for this factor (None: nothing to set up there), the POST paths
    # that begin and finish setting it up, and the word audit and `?added=` use.
    account_partial: ClassVar[str | None] = None
    enrol_paths: ClassVar[Mapping[str, str]] = {}  # path -> "begin" | "finish"
    enrolled_name: ClassVar[str] = ""
    added_notice: ClassVar[str | None] = None  # shown after a redirect to `?added=<enrolled_name>`
    account_order: ClassVar[int] = 100  # sections are listed by this, lowest first

    def step(self, challenge: Challenge, tr: gettext.NullTranslations, locale: str) -> StepView:
        """The step page's values for this challenge."""
        return StepView(dict(challenge.data), retry_after=challenge.retry_in if challenge.refused else None)

    def throttle_account(self, method: str, person: Person) -> str:
        """The account name a wrong answer counts against: each factor has its own allowance."""
        return f"{method}:{person.id}"

    def account(self, authenticator: Enrollable, person: Person, ticket: str) -> dict[str, object]:
        """The account page section's values."""
        return dict(authenticator.enrolled(person))

    def failure_status(self, failure: EnrolmentFailed) -> int:
        """The HTTP status of the account page when finishing the set-up failed."""
        return 400


class Factors(Mapping[str, Authenticator]):
    """The registered factors: the authenticators (most preferred first) and each one's page."""

    def __init__(self, factors: Iterable[tuple[Authenticator, FactorPage]]) -> None:
        pairs = list(factors)
        self.authenticators = Authenticators(a for a, _ in pairs)
        self._pages = {a.method: page for a, page in pairs}

    def __getitem__(self, method: str) -> Authenticator:
        return self.authenticators[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self.authenticators)

    def __len__(self) -> int:
        return len(self.authenticators)

    def page(self, method: str) -> FactorPage:
        return self._pages[method]

    def enrollable(self) -> list[tuple[str, Enrollable, FactorPage]]:
        """The factors with a section on the account page, in the order the page shows them."""
        found = [(m, a, self._pages[m]) for m, a in self.authenticators.enrollable().items()
                 if self._pages[m].account_partial]
        return sorted(found, key=lambda entry: entry[2].account_order)
