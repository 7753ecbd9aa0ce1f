"""ASGI entry for servers: `uvicorn --factory --no-proxy-headers idp.web.asgi:create` builds the app from
`IDP_*` settings. Proxy headers stay off in the server: the provider reads X-Forwarded-For itself,
from `IDP_TRUSTED_PROXIES` only (`idp.web.client_address`)."""

from __future__ import annotations

from starlette.types import ASGIApp

from idp.settings import Settings
from idp.web.app import create_app


def create() -> ASGIApp:
    return create_app(Settings())
