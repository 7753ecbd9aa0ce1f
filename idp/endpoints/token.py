"""Token endpoint: https://www.rfc-editor.org/rfc/rfc6749#section-3.2

The grants themselves live in `idp/grants/`; this module only adapts the HTTP request.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp.endpoints.deps import client_ip, services
from idp.errors import OAuth2Error
from idp.oauth_request import oauth_request

router = APIRouter()


@router.post("/token")
async def token(request: Request) -> Response:
    svc = services(request)
    try:
        oreq = await oauth_request(request, svc.settings.issuer, client_ip(request, svc.settings.trust_forwarded_for))
    except OAuth2Error as err:
        return svc.server.handle_error_response(None, err)  # type: ignore[no-any-return]
    return await run_in_threadpool(svc.server.create_token_response, oreq)  # type: ignore[no-any-return]


@router.post("/introspect")
async def introspect(request: Request) -> Response:
    """RFC 7662 §2: https://www.rfc-editor.org/rfc/rfc7662#section-2"""
    return await _endpoint(request, "introspection")


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    """RFC 7009 §2: https://www.rfc-editor.org/rfc/rfc7009#section-2"""
    return await _endpoint(request, "revocation")


async def _endpoint(request: Request, name: str) -> Response:
    svc = services(request)
    try:
        oreq = await oauth_request(request, svc.settings.issuer, client_ip(request, svc.settings.trust_forwarded_for))
    except OAuth2Error as err:
        return svc.server.handle_error_response(None, err)  # type: ignore[no-any-return]
    return await run_in_threadpool(svc.server.create_endpoint_response, name, oreq)  # type: ignore[no-any-return]
