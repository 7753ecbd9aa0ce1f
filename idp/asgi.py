"""ASGI entry for servers: `uvicorn --factory --no-proxy-headers idp.asgi:create` builds the app from
`IDP_*` settings. Proxy headers stay off in the server: the provider reads X-Forwarded-For itself,
from `IDP_TRUSTED_PROXIES` only (`idp.client_address`)."""

from __future__ import annotations

from starlette.types import ASGIApp

from idp.app import create_app
from idp.settings import Settings


def create() -> ASGIApp:
    return create_app(Settings())
