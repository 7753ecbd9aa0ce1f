"""The pushed authorization request endpoint (RFC 9126 §2): https://www.rfc-editor.org/rfc/rfc9126#section-2

A client posts its authorization request to `/par`, authenticated as at the token endpoint (or, a
public client, with its `client_id`: RFC 9126 §2). The request, or the signed request object in it
(RFC 9126 §3), is validated as the authorization endpoint would before anyone signs in, and kept
(`idp.oauth.pushed`) under a single-use `request_uri`. Errors are JSON (RFC 9126 §2.3), never a
redirect. The endpoint is a plain ASGI handler mounted with the token endpoint's (`idp.oauth.token`):
the same throttle on failed client authentication, the same threads.
"""

from __future__ import annotations

from starlette.responses import Response

from clients.models import Client
from idp.errors import InvalidDpopProof, InvalidRequestError, OAuth2Error
from idp.oauth.checks import check_claims, check_input, check_prompt, check_response_mode
from idp.oauth.dpop import HEADER as DPOP_HEADER
from idp.oauth.grants.client_auth import ALL_METHODS
from idp.oauth.request import HttpRequest
from idp.services import Services
from idp.signin.interaction import Interaction
from idp.web.error_map import oauth_response
from idp.web.input_limits import AUTHORIZATION_PARAMETERS


class PushedAuthorization:
    """The pushed authorization request endpoint's work, run in the endpoints' thread pool."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def respond(self, oreq: HttpRequest) -> Response:
        """201 with the request_uri (RFC 9126 §2.2), or the JSON error (§2.3)."""
        try:
            client: Client = self._svc.server.authenticate_client(oreq, ALL_METHODS, endpoint="par")
            params = self._dpop_bound(oreq, self.parameters(oreq, client))
            self.validate(client, params)
        except OAuth2Error as err:
            return oauth_response(*_as_json(err)())
        request_uri = self._svc.pushed.push(client.client_id, params)
        return oauth_response(201, {"request_uri": request_uri, "expires_in": self._svc.pushed.ttl}, [])

    def parameters(self, oreq: HttpRequest, client: Client) -> list[tuple[str, str]]:
        """The authorization request in the body, or inside its request object."""
        pairs = [(key, value) for key, values in oreq.payload.datalist.items() for value in values
                 if key in AUTHORIZATION_PARAMETERS]
        names = {key for key, _ in pairs}
        if "request_uri" in names:
            raise InvalidRequestError("request_uri cannot be pushed (RFC 9126 section 2.1).")
        given = oreq.form.get("client_id")
        if given is not None and given != client.client_id:
            raise InvalidRequestError("The client_id does not match the authenticated client.")
        raw = oreq.form.get("request")
        if raw is not None:
            # RFC 9126 §3 and RFC 9101 §5: only the parameters inside the object count.
            return self._svc.request_objects.parameters(raw, client)
        if given is None:
            pairs.append(("client_id", client.client_id))
        return pairs

    def _dpop_bound(self, oreq: HttpRequest, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key, as
        `dpop_jkt` does; with both, they must name the same key."""
        proofs = oreq.headers.getlist(DPOP_HEADER)  # type: ignore[attr-defined]
        if not proofs:
            return params
        proof = self._svc.dpop.check(proofs, method="POST", uri=oreq.uri)
        given = [value for key, value in params if key == "dpop_jkt"]
        if given and given != [proof.jkt]:
            raise InvalidDpopProof("The dpop_jkt parameter names another key than the DPoP proof's.")
        return params if given else [*params, ("dpop_jkt", proof.jkt)]

    def validate(self, client: Client, params: list[tuple[str, str]]) -> None:
        """What `/authorize` would refuse before anyone signs in (RFC 9126 §2.1: the request is
        validated when it is pushed)."""
        svc = self._svc
        refusal = check_input(params)
        if refusal is not None:
            raise refusal.error
        oreq = HttpRequest("GET", svc.settings.issuer + "/authorize", {}, params, [])
        svc.server.get_consent_grant(oreq, end_user=None)
        data = oreq.payload.data
        check_response_mode(data)
        prompts = check_prompt(data)
        claims = check_claims(data)
        Interaction(svc, None, client=client, data=data, claims=claims, prompts=prompts,  # type: ignore[arg-type]
                    tx=None, cookie=None, session=None, person=None, locale="en").check()


def _as_json(err: OAuth2Error) -> OAuth2Error:
    """The error as the JSON answer RFC 9126 §2.3 asks for: no redirect URI or state carried over."""
    err.redirect_uri = None
    err.state = None
    err.redirect_fragment = False
    return err
