"""ASGI entry for servers: `uvicorn --factory idp.asgi:create` builds the app from `IDP_*` settings."""

from __future__ import annotations

from fastapi import FastAPI

from idp.app import create_app
from idp.settings import Settings


def create() -> FastAPI:
    return create_app(Settings())
