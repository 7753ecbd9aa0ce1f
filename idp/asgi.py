"""ASGI entry for servers: `uvicorn --factory --no-proxy-headers idp.asgi:create` builds the app from
`IDP_*` settings. Proxy headers stay off in the server: the provider reads X-Forwarded-For itself,
from `IDP_TRUSTED_PROXIES` only (`idp.client_address`)."""

from __future__ import annotations

from idp.app import create_app
from idp.fast_paths import FastPaths
from idp.settings import Settings


def create() -> FastPaths:
    return create_app(Settings())
