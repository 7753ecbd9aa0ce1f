"""ASGI entry for servers: `uvicorn --factory idp.asgi:create` builds the app from `IDP_*` settings."""

from __future__ import annotations

from idp.app import create_app
from idp.fast_paths import FastPaths
from idp.settings import Settings


def create() -> FastPaths:
    return create_app(Settings())
