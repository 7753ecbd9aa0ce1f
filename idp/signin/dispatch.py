"""Turning the next step of an authorization into a response: the page for it, the client's error,
or the code.

The endpoint (`idp.oauth.authorize`) validates the request and builds the `Interaction`; this module
only acts on `Interaction.step`, decided by `levels.next_step`. The sign-in pages import it (for
`refuse_pending`), never each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.errors import AccountSelectionRequiredError, ConsentRequiredError, LoginRequiredError, OAuth2Error
from idp.oauth.claims import requested_person_claims
from idp.oauth.request import HttpRequest
from idp.oauth.response import deliver
from idp.oauth.tokens import AuthContext
from idp.oauth.verified_claims import requested
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.signin.acting import SELF
from idp.signin.interaction import Interaction
from idp.web.deps import client_ip
from levels.next_step import ActAs, Consent, Issue, Login, Refuse

# The OAuth error for each refusal `levels.next_step` can give (only for prompt=none).
_REFUSALS: dict[str, type[OAuth2Error]] = {
    LoginRequiredError.error: LoginRequiredError,
    AccountSelectionRequiredError.error: AccountSelectionRequiredError,
    ConsentRequiredError.error: ConsentRequiredError,
}

_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Validated:
    """An authorization request that passed validation: where and how to answer the client."""

    grant: Any  # Authlib's authorization code grant for this request
    pairs: list[tuple[str, str]]
    redirect_uri: str
    response_mode: str


def answer(ctx: Interaction, auth: Validated) -> Response:
    """The response to a validated authorization request, according to its one next step."""
    svc, client, step = ctx.svc, ctx.client, ctx.step
    assert client is not None and step is not None
    if isinstance(step, Refuse):
        cls = _REFUSALS[step.error]
        err = cls(description=step.description) if step.description else cls()
        return deliver_error(svc, ctx.request, err, auth.redirect_uri, ctx.data, ctx.locale, auth.response_mode)
    if isinstance(step, Issue):
        return issue(ctx, auth, step)
    tx = ctx.tx or svc.transactions.start(auth.pairs, client.client_id)
    if isinstance(step, Login):
        target = "/login"
    elif isinstance(step, ActAs):
        target = "/login/act-as"
    elif isinstance(step, Consent):
        target = "/login/consent"
    else:  # StepUp, Proofing, CannotReach: the step page says which
        target = "/login/step"
        if ctx.choice is not None:
            svc.acting.choose(tx.id, ctx.choice)  # the step-up must aim at the chosen entity's level
    return RedirectResponse(f"{target}?tx={tx.id}", status_code=302, headers=_NO_STORE)


def issue(ctx: Interaction, auth: Validated, step: Issue) -> Response:
    """Issue the code: the person is signed in at the level, chose whom to act for, and consented."""
    svc, client, session, person, cookie = ctx.svc, ctx.client, ctx.session, ctx.person, ctx.cookie
    assert client is not None and session is not None and person is not None and cookie is not None
    acting = ctx.acting
    # Nobody to act for with this client: no chooser with a single answer.
    choice = SELF if ctx.wants_entity and ctx.choice is None else ctx.choice
    request, data, claims = ctx.request, ctx.data, ctx.claims
    user = AuthContext(
        person_id=person.id, auth_time=session.auth_time, acr=svc.policy.acr(step.level),
        amr=tuple(svc.policy.amr(step.methods)), sid=session.sid, nonce=data.get("nonce"),
        id_token_verified=_names(requested(claims.get("id_token"))),
        userinfo_verified=_names(requested(claims.get("userinfo"))),
        legal_entity=acting.claim() if acting else None,
        id_token_claims=requested_person_claims(claims.get("id_token")),
        userinfo_claims=requested_person_claims(claims.get("userinfo")),
    )
    grant = auth.grant
    grant.request.user = user
    code = grant.generate_authorization_code()
    grant.save_authorization_code(code, grant.request)
    session = svc.sessions.seen(cookie, session, client_ip(request, svc.settings.trusted_proxies))
    svc.sessions.add_client(cookie, session, client.client_id, acting=choice)
    if acting is not None:
        svc.audit.record("legal_entity.acted", person_id=person.id, client_id=client.client_id, detail={
            "mandate_id": acting.mandate_id, "entity": acting.mandate.entity.national_id, "sid": session.sid})
    if ctx.tx is not None:
        svc.transactions.finish(ctx.tx.id)
    return deliver(
        svc.pages, request, redirect_uri=auth.redirect_uri, params=[("code", code)], state=data.get("state"),
        issuer=svc.settings.issuer, response_mode=auth.response_mode, locale=ctx.locale,
    )


def _names(names: list[str] | None) -> tuple[str, ...] | None:
    return tuple(names) if names is not None else None


def deliver_error(
    svc: Services, request: Request, err: OAuth2Error, redirect_uri: str, data: dict[str, str], locale: str,
    response_mode: str | None = None,
) -> Response:
    """Send `err` to the client at its (validated) redirect URI."""
    params = [("error", err.error)]
    if err.description:
        params.append(("error_description", err.description))
    mode = response_mode or (data.get("response_mode") if data.get("response_mode") == "form_post" else "query")
    return deliver(
        svc.pages, request, redirect_uri=redirect_uri, params=params, state=data.get("state"),
        issuer=svc.settings.issuer, response_mode=mode, locale=locale,
    )


def refuse_pending(svc: Services, request: Request, tx: LoginTransaction, err: OAuth2Error) -> Response:
    """End the pending authorization and send `err` to the client at its redirect URI.

    The request is validated again (client, redirect URI) rather than trusting the stored copy, so a
    client disabled or changed meanwhile never receives the redirect.
    """
    oreq = HttpRequest("GET", svc.settings.issuer + "/authorize", request.headers, tx.params, [])
    try:
        grant = svc.server.get_consent_grant(oreq, end_user=None)
    except OAuth2Error:
        return svc.pages.link_expired(request)
    svc.transactions.finish(tx.id)
    data = oreq.payload.data
    params = [("error", err.error)]
    if err.description:
        params.append(("error_description", err.description))
    return deliver(
        svc.pages, request, redirect_uri=grant.redirect_uri, params=params, state=data.get("state"),
        issuer=svc.settings.issuer, response_mode=data.get("response_mode"),
        locale=svc.pages.locale(request, data.get("ui_locales")),
    )
