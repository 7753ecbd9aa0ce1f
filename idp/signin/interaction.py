"""One pending authorization as one request sees it: its inputs gathered once, its next step decided once.

`/authorize`, `/authorize/resume` and the sign-in pages (`/login/step`, proofing, act-as, consent)
build an `Interaction` and read `step`: the answer of `levels.next_step.next_step`, the only place
that decides what the person must still do. Each lookup (the client's services, the mandates, the
person's methods, stored consent) is made at most once per request, and only when the decision
reaches it. The pages then only parse and render; `idp.signin.dispatch` turns a step into a response.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import cached_property

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.models import Client
from clients.services import Service
from idp.errors import InvalidRequestError, InvalidScopeError, LoginRequiredError, OAuth2Error
from idp.oauth.checks import check_claims, check_max_age, check_prompt
from idp.oauth.verified_claims import requested
from idp.services import Services
from idp.sessions.consents import VERIFIED_CLAIMS, needs_consent
from idp.sessions.sso import SsoSession
from idp.sessions.transactions import ConsentMarks, LoginTransaction
from idp.signin.acting import SCOPE as ENTITY_SCOPE
from idp.signin.acting import SELF, Acting
from idp.signin.methods import available_methods
from idp.web.deps import Posted, services
from keys.errors import InvalidToken
from levels.authenticators.base import Step as FactorStep
from levels.next_step import Snapshot, Step, next_step
from levels.people import Person
from levels.requirement import NoSupportedAcr, Requirement, ServiceNeed, essential_acr, required


def requested_for_consent(
    scopes: Collection[str], data: dict[str, str], claims: dict[str, dict[str, object]] | None = None,
) -> list[str]:
    """What the authorization asks the person to release: its allowed scopes, plus `verified_claims`
    when the claims parameter asks for it (it is released whatever the scopes)."""
    wanted = list(dict.fromkeys(scopes))
    if claims is None:
        try:
            claims = check_claims(data)
        except OAuth2Error:
            claims = {}  # authorize() already refused a malformed claims parameter
    if any(requested(member) is not None for member in claims.values()):
        wanted.append(VERIFIED_CLAIMS)
    return wanted


def consent_marks(svc: Services) -> ConsentMarks:
    """Who consented in each login transaction (`prompt=consent` asks once per authorization)."""
    return ConsentMarks(svc.store, svc.settings.login_transaction_ttl)


class Interaction:
    """The authorization request, the browser's session and its person, loaded together.

    `session` and `person` are None when nobody (active) is signed in; `tx` is None on the first
    `/authorize` request, before any page was needed.
    """

    def __init__(
        self, svc: Services, request: Request, *, client: Client | None, data: dict[str, str],
        claims: dict[str, dict[str, object]], prompts: frozenset[str], tx: LoginTransaction | None,
        cookie: str | None, session: SsoSession | None, person: Person | None, locale: str | None = None,
    ) -> None:
        self.svc, self.request, self.client, self.data = svc, request, client, data
        self.claims, self.prompts, self.tx = claims, prompts, tx
        self.cookie, self.session, self.person = cookie, session, person
        self.locale = locale or svc.pages.locale(request, data.get("ui_locales"))
        self.now = datetime.now(UTC)

    @classmethod
    def pending(cls, svc: Services, request: Request, tx: LoginTransaction, cookie: str, session: SsoSession,
                person: Person) -> Interaction:
        """A sign-in page's view of the authorization it continues (validated when it started)."""
        data = dict(tx.params)
        try:
            claims, prompts = check_claims(data), check_prompt(data)
        except OAuth2Error:
            claims, prompts = {}, frozenset()
        return cls(svc, request, client=svc.clients.get(tx.client_id), data=data, claims=claims, prompts=prompts,
                   tx=tx, cookie=cookie, session=session, person=person)

    def signed_in_as(self, cookie: str | None, session: SsoSession | None, person: Person | None) -> None:
        """The browser's session and its (active) person, read once the request itself checked out."""
        self.cookie, self.session, self.person = cookie, session, person
        self.now = datetime.now(UTC)  # factors are judged against a clock read after the session

    # -- what the client asked for ------------------------------------------------------------
    @cached_property
    def services(self) -> list[Service]:
        """The client's services (one read per request)."""
        assert self.client is not None
        return self.svc.services.services_for(self.client.client_id)

    @cached_property
    def scopes(self) -> list[str]:
        assert self.client is not None
        return self.client.get_allowed_scope(self.data.get("scope", "")).split()

    @property
    def wants_entity(self) -> bool:
        return ENTITY_SCOPE in self.scopes

    def _required(self, entity_min_level: int | None) -> Requirement:
        assert self.client is not None
        try:
            max_age, bad_max_age = check_max_age(self.data), None
        except InvalidRequestError as err:
            max_age, bad_max_age = None, err
        # The scope parameter as sent: a service scope the client may not request still counts.
        asked = set((self.data.get("scope") or "").split())
        try:
            requirement = required(
                self.svc.policy, client_min_level=self.client.min_level,
                services=[ServiceNeed(s.min_level, s.max_auth_age) for s in self.services if s.scope in asked],
                acr_values=(self.data.get("acr_values") or "").split(), essential=essential_acr(self.claims),
                entity_min_level=entity_min_level, max_age=max_age,
                elapsed=self.now.timestamp() - self.tx.created_at if self.tx is not None else None,
            )
        except NoSupportedAcr as err:
            raise InvalidRequestError(str(err)) from None
        if bad_max_age is not None:  # reported after an unsupported acr, as it always was
            raise bad_max_age
        return requirement

    @cached_property
    def _own_requirement(self) -> Requirement:
        return self._required(None)

    def check(self) -> Requirement:
        """The requirement before any entity is chosen; raises the `invalid_request` an unsupported
        acr or a malformed max_age deserves, and `invalid_scope` for a service this client may not
        reach (one that requires a profile, such as fapi2, the client is not held to)."""
        assert self.client is not None
        asked = set((self.data.get("scope") or "").split())
        barred = [s for s in self.services if s.scope in asked and not s.reachable_by(self.client)]
        if barred:
            raise InvalidScopeError(
                f"The service {barred[0].scope} requires the {barred[0].profile} security profile, "
                "and this client is not registered for it.")
        return self._own_requirement

    @cached_property
    def requirement(self) -> Requirement:
        """The level and authentication age this authorization needs, the chosen entity's included."""
        acting = self.acting
        if acting is None:
            return self._own_requirement
        return self._required(acting.mandate.entity.min_level)

    def check_subject(self) -> None:
        """The person the request names must be the one signed in, as this client sees them
        (pairwise or public, OIDC Core §8):

        - §5.5.1: a `sub` asked for in the ID token with a `value` gets a positive answer only for
          that person (`login_required` otherwise, whatever the prompt);
        - §3.1.2.1: with `prompt=none`, an `id_token_hint` must be an ID token we issued to this
          client (it may have expired), and naming someone else is `login_required`.
        Nobody signed in yet: the person signs in first, and the check runs again before the code.
        """
        if self.client is None:
            return
        wanted: list[str] = []
        asked = (self.claims.get("id_token") or {}).get("sub")
        if isinstance(asked, dict) and isinstance(asked.get("value"), str):
            wanted.append(asked["value"])
        raw = self.data.get("id_token_hint")
        if raw and "none" in self.prompts:
            wanted.append(self._hinted_sub(raw))
        if wanted and self.person is not None:
            sub = self.svc.subjects.for_client(self.client, self.person.id)
            if any(value != sub for value in wanted):
                raise LoginRequiredError("The signed-in person is not the one this request names.")

    def _hinted_sub(self, raw: str) -> str:
        assert self.client is not None
        try:
            header, claims = self.svc.keyring.verify(raw)
        except InvalidToken:
            header, claims = {}, {}
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        sub = claims.get("sub")
        if header.get("typ") != "JWT" or claims.get("iss") != self.svc.settings.issuer \
                or self.client.client_id not in audiences or not isinstance(sub, str):
            raise InvalidRequestError("id_token_hint is not an ID token issued to this client.")
        return sub

    # -- whom the person acts for -------------------------------------------------------------
    @cached_property
    def entity_options(self) -> list[Acting]:
        """Every entity the person may act for with this client and these scopes (one read)."""
        assert self.client is not None and self.person is not None
        return self.svc.acting.options(self.person.national_code, self.client.client_id, self.scopes,
                                       services=frozenset(s.scope for s in self.services))

    @cached_property
    def _entity(self) -> tuple[str | None, Acting | None]:
        if not self.wants_entity or self.session is None or self.person is None:
            return None, None
        choice = self.svc.acting.chosen(self.tx.id) if self.tx is not None else None
        if choice is None and "select_account" not in self.prompts:
            choice = self.session.acting.get(self.client.client_id)  # type: ignore[union-attr]
        if choice is None or choice == SELF:
            return choice, None
        acting = next((a for a in self.entity_options if a.mandate_id == choice), None)
        # The mandate no longer lets them act here: ask again.
        return (choice, acting) if acting is not None else (None, None)

    @property
    def choice(self) -> str | None:
        """The entity chosen (a mandate id or `SELF`), or None when nobody is chosen yet."""
        return self._entity[0]

    @property
    def acting(self) -> Acting | None:
        return self._entity[1]

    # -- the person's means -------------------------------------------------------------------
    @cached_property
    def available_methods(self) -> frozenset[str]:
        assert self.person is not None
        return available_methods(self.svc, self.person)

    @cached_property
    def consent_wanted(self) -> list[str]:
        return requested_for_consent(self.scopes, self.data, self.claims)

    @cached_property
    def consent_needed(self) -> bool:
        assert self.client is not None and self.person is not None
        client, person = self.client, self.person
        if not client.require_consent and "consent" not in self.prompts:
            return False  # a trusted government portal: not even a database read
        # The mark names the person, so a different account signing in on the same transaction
        # ("Not you?") is asked for its own consent.
        consented = self.tx is not None and consent_marks(self.svc).get(self.tx.id) == person.id
        # What was granted before only matters when neither prompt=consent nor this request decides.
        ask_store = client.require_consent and not consented and "consent" not in self.prompts
        granted = self.svc.consents.granted(person.id, client.client_id) if ask_store else frozenset()
        return needs_consent(client, self.consent_wanted, granted, self.prompts, consented)

    # -- the decision -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        signed_in = self.session is not None and self.person is not None
        return Snapshot(
            requirement=self.requirement, now=self.now, signed_in=signed_in,
            tier=self.person.proofing_tier if self.person is not None else 0,
            factors=self.session.proven_factors() if self.session is not None else (),
            available=lambda: self.available_methods, prompts=self.prompts,
            started_at=datetime.fromtimestamp(self.tx.created_at, UTC) if self.tx is not None else None,
            wants_entity=self.wants_entity, entity_chosen=self.choice is not None,
            entity_options=lambda: bool(self.entity_options), consent_needed=lambda: self.consent_needed,
            preference=self.svc.factors.authenticators.preference,
        )

    @cached_property
    def step(self) -> Step | None:
        """The next step, decided once per request; None when the client is gone."""
        if self.client is None:
            return None
        return next_step(self.svc.policy, self.snapshot())

    def factor_step(self) -> FactorStep:
        """This pending sign-in as the place a factor is asked: challenges are bound to it."""
        assert self.person is not None and self.tx is not None
        return FactorStep(self.person, self.tx.id, self.locale)

    # -- pages --------------------------------------------------------------------------------
    def render(self, template: str, *, status_code: int = 200, **extra: object) -> Response:
        assert self.tx is not None and self.person is not None
        tr = self.svc.pages.gettext(self.locale)
        for key in ("error", "notice"):
            if isinstance(extra.get(key), str):
                extra[key] = tr.gettext(str(extra[key]))
        return self.svc.pages.render(
            self.request, template, self.locale, status_code=status_code, transaction=self.tx, tx=self.tx.id,
            client=self.client, lang_query=[("tx", self.tx.id)],
            person_name=f"{self.person.given_name} {self.person.family_name}".strip(), **extra,
        )


def load_pending(svc: Services, request: Request, tx_id: str | None) -> Interaction | Response:
    """The pending authorization a sign-in page continues, or where to go when there is none."""
    tx = svc.transactions.load(tx_id)
    if tx is None:
        return svc.pages.link_expired(request)
    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if cookie is None or session is None or person is None or person.status != "active":
        return RedirectResponse(f"/login?tx={tx.id}", status_code=303)
    return Interaction.pending(svc, request, tx, cookie, session, person)


def resume(ctx: Interaction) -> Response:
    """Back to the authorization endpoint, which decides what comes next."""
    assert ctx.tx is not None
    return RedirectResponse(f"/authorize/resume?tx={ctx.tx.id}", status_code=303)


def pending_page(request: Request, show: Callable[[Interaction], Response]) -> Response:
    """GET of a sign-in page that continues a pending authorization (`?tx=`)."""
    loaded = load_pending(services(request), request, request.query_params.get("tx"))
    if isinstance(loaded, Response):
        return loaded
    return show(loaded)


def posted_pending(
    request: Request, posted: Posted, show: Callable[..., Response]
) -> tuple[Interaction, dict[str, str]] | Response:
    """A sign-in form's pending transaction and session, after its CSRF token checks out; `show`
    renders the form's page again with an error when it does not."""
    svc = services(request)
    try:
        form = dict(posted.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
    loaded = load_pending(svc, request, form.get("tx"))
    if isinstance(loaded, Response):
        return loaded
    if not svc.pages.check_csrf(request, form.get("csrf_token"), loaded.tx):
        return show(loaded, error="Your form expired. Please try again.", status_code=400)
    return loaded, form
