"""ASGI entry for servers: `uvicorn --factory idp.asgi:create` builds the app from `IDP_*` settings."""

from __future__ import annotations

from starlette.types import ASGIApp

from idp.app import create_app
from idp.settings import Settings


def create() -> ASGIApp:
    return create_app(Settings())
