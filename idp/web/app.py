"""The ASGI application: all wiring happens in `create_app(settings)`."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from idp.account import activate, recover, register
from idp.account import companies as account_companies
from idp.account import connected_services as account_services
from idp.account import history as account_history
from idp.account import profile as account_profile
from idp.account import security as account
from idp.account import sessions as account_sessions
from idp.admin import ADMIN_PATH, build_admin_app
from idp.background import every, run_deliveries
from idp.errors import BrowserError
from idp.oauth import authorize, userinfo
from idp.oauth.discovery import metadata_bytes
from idp.oauth.token import endpoints as oauth_endpoints
from idp.office import console as office_console
from idp.services import Services
from idp.sessions import end_session
from idp.settings import Settings
from idp.signin import act_as, consent, login, step_up
from idp.storage.breaker import Unavailable
from idp.storage.store import Store
from idp.web import outages
from idp.web.error_map import SERVER_ERROR
from idp.web.fast_paths import FastPaths
from idp.web.health import Health
from idp.web.logs import AccessLog
from idp.web.metrics import MetricsEndpoint
from idp.web.security_headers import SecurityHeaders

# Our Vazirmatn is served as font/woff2 (RFC 8081) on every system, whatever its mime.types says.
mimetypes.add_type("font/woff2", ".woff2")

# Authlib logs issued tokens at debug level; never let that reach our logs.
logging.getLogger("authlib").setLevel(logging.WARNING)


def create_app(settings: Settings, *, store: Store | None = None, services: Services | None = None) -> ASGIApp:
    svc = services or Services.build(settings, store=store)
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Protocol work runs in threads (Authlib is synchronous). A few threads keep the GIL from
        # thrashing between many of them; the benchmark showed better throughput and p99 than 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        stop = asyncio.Event()
        tasks = []
        if settings.background_tasks:
            tasks = [
                asyncio.create_task(run_deliveries(svc.deliverer, interval=settings.backchannel_interval, stop=stop)),
                asyncio.create_task(every(settings.session_sweep_interval, svc.logout.sweep_expired, stop,
                                          "session expiry")),
                asyncio.create_task(every(settings.prune_interval, svc.prune_expired, stop, "pruning")),
            ]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        svc.deliverer.close()

    app = FastAPI(title="National identity provider", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    app.state.services = svc
    for module in (authorize, login, step_up, act_as, consent, account, account_profile, account_sessions,
                   account_services, account_history, account_companies, userinfo, end_session, register, recover,
                   activate, office_console):
        app.include_router(module.router)
    # The admin API: its own application, OpenAPI document and error shape (`idp.admin`).
    app.mount(ADMIN_PATH, build_admin_app(svc))
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.exception_handler(BrowserError)
    async def _browser_error(request: Request, exc: BrowserError) -> Response:
        return svc.pages.error(request, exc.title, exc.message, status_code=exc.status_code)

    @app.exception_handler(Unavailable)
    async def _backend_down(request: Request, exc: Unavailable) -> Response:
        return outages.response(svc.pages, request, exc)

    @app.exception_handler(RequestValidationError)
    async def _bad_input(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"error": "invalid_request", "error_description": "Malformed request."},
                            status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logging.getLogger("idp").exception("unhandled error on %s", request.url.path)
        return JSONResponse({"error": SERVER_ERROR.error, "error_description": SERVER_ERROR.description},
                            status_code=SERVER_ERROR.status)

    discovery = metadata_bytes(settings, svc.policy)

    async def discovery_bytes() -> bytes:
        return discovery

    async def jwks_bytes() -> bytes:
        # A due key reload reads the database: that happens in the thread pool, never on the loop.
        if svc.keyring.reload_due():
            return await anyio.to_thread.run_sync(svc.keyring.jwks_bytes)
        return svc.keyring.jwks_bytes()

    health = Health(svc.engine, svc.store)
    scrape = MetricsEndpoint(app, keyring=svc.keyring, outbox=svc.outbox, token=settings.metrics_token,
                             trusted_proxies=settings.trusted_proxies)
    documents = {"/.well-known/openid-configuration": discovery_bytes, "/jwks": jwks_bytes}
    posts = oauth_endpoints(svc)
    gets = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": scrape}
    fast = FastPaths(app, documents=documents, posts=posts, gets=gets)
    # nosniff (and HSTS on https) on every response, the fast paths' included.
    secured = SecurityHeaders(fast, https=settings.issuer.startswith("https://"))
    # Outermost: the request id, the access log line and the HTTP metrics cover every answer.
    return AccessLog(secured, fixed_routes=[*documents, *posts, *gets], trusted_proxies=settings.trusted_proxies,
                     enabled=settings.access_log)
