"""The `idp` command: serve, migrate, and administer keys, clients, people and legal entities; check
and export the audit trail."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import typer
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from clients.exchange import ExchangePermissions, SqlExchangeStore
from clients.registry import ClientRegistry
from clients.sector import HttpSectorFetcher
from clients.services import ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.audit import AuditLog
from idp.built_in_clients import built_in_clients
from idp.cli.audit import build_app as build_audit_app
from idp.cli.clients import build_app as build_clients_app
from idp.cli.entities import build_app as build_entities_app
from idp.cli.keys import build_app as build_keys_app
from idp.cli.logout import build_app as build_logout_app
from idp.cli.offices import OfficesContext
from idp.cli.offices import build_app as build_offices_app
from idp.cli.output import (
    ERROR_NAMES,
    EXIT_FAILED,
    EXIT_INVALID,
    ClickException,
    JsonFlag,
    UsageError,
    command_group,
    fail,
    print_json,
)
from idp.cli.people import PeopleContext
from idp.cli.people import build_app as build_people_app
from idp.cli.people_admin import add_admin_commands as add_people_admin_commands
from idp.cli.remote import AdminApi
from idp.people_admin import PeopleAdmin
from idp.sessions.delivery import LogoutDeliverer
from idp.sessions.outbox import LogoutOutbox
from idp.settings import Settings
from keys.keyring import KeyRing
from legal_entities.service import LegalEntities
from legal_entities.store_sql import SqlLegalEntitiesStore

app = command_group(help="National single sign-on identity provider.")
db_app = command_group(help="Database schema.")
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # noqa: BLE001 - pydantic's message names the bad variable
        fail(f"invalid IDP_* settings: {exc}", EXIT_INVALID)


def _engine(settings: Settings) -> Engine:
    """The provider's database, which must have been initialised: a command run in the wrong folder
    (or with the wrong IDP_DATABASE_URL) says so rather than create an empty SQLite file and fail
    on a missing table."""
    from idp.services import make_database

    url = make_url(settings.database_url)
    shown = url.render_as_string(hide_password=True)
    missing = (f"no provider database at {shown}: run `idp init` to create one here, or set IDP_DATABASE_URL to the"
               " provider's database")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") and (
            not Path(url.database).exists()):
        fail(missing, EXIT_FAILED)
    engine = make_database(settings, statement_timeout=False)
    try:
        initialised = inspect(engine).has_table("alembic_version")
    except SQLAlchemyError as exc:
        engine.dispose()
        fail(f"cannot reach the database at {shown}: {type(exc).__name__}: {str(exc).splitlines()[0]}", EXIT_FAILED)
    if not initialised:
        engine.dispose()
        fail(missing.replace("no provider database", "the database is not initialised"), EXIT_FAILED)
    return engine


def _database() -> tuple[Settings, Engine]:
    settings = _settings()
    return settings, _engine(settings)


def _keyring() -> KeyRing:
    from idp.services import make_keyring

    settings, engine = _database()
    return make_keyring(settings, engine)


def _client_registry(settings: Settings, engine: Engine, audit: AuditLog) -> ClientRegistry:
    # No cache: every command reads the clients as they are now.
    # A pairwise client's sector identifier URI is fetched and checked at registration (OIDC Core §8.1).
    # The provider's own clients are known, so no command can change, delete or shadow them.
    return ClientRegistry(SqlClientStore(engine), cache_ttl=0, audit=audit.sink("cli"),
                          sector_fetch=HttpSectorFetcher(), built_in=built_in_clients(settings))


def _registry() -> ClientRegistry:
    settings, engine = _database()
    return _client_registry(settings, engine, AuditLog(engine))


def _services() -> ServiceCatalogue:
    settings, engine = _database()
    audit = AuditLog(engine)
    return ServiceCatalogue(_client_registry(settings, engine, audit), SqlServiceStore(engine), audit=audit.sink("cli"))


def _exchanges() -> ExchangePermissions:
    settings, engine = _database()
    audit = AuditLog(engine)
    return ExchangePermissions(_client_registry(settings, engine, audit), SqlExchangeStore(engine),
                               SqlServiceStore(engine), audit=audit.sink("cli"))


def _people_context() -> PeopleContext:
    from idp.services import make_proofing
    from levels.people import SqlPersonStore
    from levels.people_import_sql import SqlPeopleImport
    from levels.proofing_sql import SqlProofingStore

    settings = _settings()
    engine = _engine(settings)
    audit = AuditLog(engine).sink("cli")
    return PeopleContext(people=SqlPersonStore(engine), proofing=make_proofing(settings, engine, audit),
                         records=SqlProofingStore(engine), imports=SqlPeopleImport(engine), audit=audit)


def _offices_context() -> OfficesContext:
    from idp.services import make_offices
    from levels.people import SqlPersonStore

    settings, engine = _database()
    return OfficesContext(offices=make_offices(settings, engine, AuditLog(engine).sink("cli")),
                          people=SqlPersonStore(engine))


def _entities() -> LegalEntities:
    _, engine = _database()
    return LegalEntities(SqlLegalEntitiesStore(engine), AuditLog(engine).sink("cli"))


def _backchannel() -> tuple[LogoutOutbox, LogoutDeliverer]:
    from idp.services import load_kek, make_keyring, make_subjects
    from idp.sessions.delivery import make_backchannel

    settings, engine = _database()
    audit = AuditLog(engine)
    kek = load_kek(settings)
    # Pairwise clients get their own `sub` in logout tokens sent from here too (OIDC Core §8).
    return make_backchannel(settings, engine, make_keyring(settings, engine, kek),
                            _client_registry(settings, engine, audit), audit, make_subjects(settings, kek))


def _remote(server: str) -> AdminApi:
    from idp.cli.remote import admin_api

    return admin_api(_settings(), server)


app.add_typer(build_keys_app(_keyring, _remote), name="keys", help="Signing keys: list and rotate.")
app.add_typer(build_clients_app(_registry, _services, _exchanges, _remote), name="clients",
              help="Registered clients (agency portals) and their services.")

def _people_admin(operator: str) -> PeopleAdmin:
    from idp.services import Services

    settings = _settings()
    _engine(settings).dispose()  # initialised, or a clear error
    return PeopleAdmin(Services.build(settings), operator)


people_app = build_people_app(_people_context)
add_people_admin_commands(people_app, lambda: _people_context().people, _people_admin, _remote)
app.add_typer(people_app, name="people",
              help="People: add, show, list, search, verify in person, import, disable, unlock, sessions, sign out.")
app.add_typer(build_entities_app(_entities), name="entities",
              help="Legal entities: import from the companies registry, list, show, grant and revoke mandates.")


app.add_typer(build_offices_app(_offices_context), name="offices",
              help="Counter offices and their operators: add, list, disable, operators add/list/remove.")
app.add_typer(build_logout_app(_backchannel), name="logout",
              help="Back-channel logout notifications: list, deliver now, retry failed.")
app.add_typer(build_audit_app(lambda: _database()[1]), name="audit",
              help="The audit trail: verify its hash chains, export events for a log store.")


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("heads", metavar="REVISION", help="Where to go (default: the newest)."),
    as_json: JsonFlag = False,
) -> None:
    """Apply schema migrations."""
    from idp.storage.migrate import current, upgrade

    settings = _settings()
    upgrade(settings.database_url, revision, transaction_pooling=settings.database_transaction_pooling)
    if as_json:
        print_json({"revision": list(current(settings.database_url))})
    else:
        typer.echo("database is up to date")


@app.command()
def init(as_json: JsonFlag = False) -> None:
    """Migrate the database, create the key-encryption key file and the signing keys."""
    from idp.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    _keyring().ensure()
    if as_json:
        print_json({"initialised": True})
    else:
        typer.echo("initialised: database migrated, signing keys ready")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Address to listen on."),
    port: int = typer.Option(8000, metavar="N", help="Port to listen on."),
    workers: int = typer.Option(1, min=1, metavar="N", help="Worker processes; more than one needs IDP_REDIS_URL."),
    access_log: bool | None = typer.Option(
        None, "--access-log/--no-access-log", help="Log every request (default: IDP_ACCESS_LOG, off)."),
) -> None:
    """Run the provider with uvicorn."""
    import atexit
    import shutil
    import tempfile

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker would answer /metrics with its own counts only: give them a directory to add
        # up in (docs/operations.md), fresh for this server and removed when it stops.
        metrics_dir = tempfile.mkdtemp(prefix="idp-metrics-")
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    settings = _settings()
    # Without Redis each worker would keep its own in-process store: a login transaction or code made
    # by one worker would be unknown to the next, and sign-ins would fail at random.
    if workers > 1 and not settings.redis_url:
        fail("--workers above 1 needs IDP_REDIS_URL: the in-process store is not shared between workers",
             EXIT_INVALID)
    _run(_listening_socket(host, port), host, port, workers=workers, access_log=access_log)


def _listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else is done: a second provider started on a busy
    port stops here, having changed nothing (the demo's secrets of the one running stay valid)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}): is the provider already running there?"
             f" Choose another port: `make run PORT={port + 1}` or --port {port + 1}", EXIT_FAILED)
    return sock


def _run(sock: socket.socket, host: str, port: int, *, workers: int, access_log: bool | None) -> None:
    import uvicorn

    # The loop and parser the benchmark measures (bench/server.py): asyncio's loop was no slower
    # than uvloop here and schedules the thread pool's replies more evenly.
    from idp.logs import dict_config

    if access_log is not None:
        # The workers build the app from the environment (idp.web.asgi): the choice goes there.
        os.environ["IDP_ACCESS_LOG"] = "true" if access_log else "false"
    settings = _settings()
    # Our access log (idp.web.logs) replaces uvicorn's: route templates, request ids, no query strings.
    # Every process, the supervisor's included, logs in IDP_LOG_FORMAT (idp.logs).
    options: dict[str, object] = {
        "factory": True, "host": host, "port": port, "workers": workers, "loop": "asyncio", "http": "httptools",
        "access_log": False, "proxy_headers": False, "server_header": False,
        "log_config": dict_config(settings.log_format, settings.log_level), "log_level": settings.log_level.lower()}
    if workers > 1:
        sock.close()  # the port was free; uvicorn's supervisor binds it and shares it with the workers
        uvicorn.run("idp.web.asgi:create", **options)  # type: ignore[arg-type]
        return
    typer.echo(f"Serving on http://{host if ':' not in host else f'[{host}]'}:{port}", err=True)
    uvicorn.Server(uvicorn.Config("idp.web.asgi:create", **options)).run(sockets=[sock])  # type: ignore[arg-type]


@app.command("demo-rp")
def demo_rp(port: int = typer.Option(8400, metavar="N", help="Loopback port the demo portals listen on.")) -> None:
    """The demo portals' side of `make run`: shows their codes and prints the logouts they receive."""
    from idp.demo.data import PORTAL_PATHS
    from idp.demo.relying_party import serve as serve_demo_rp

    serve_demo_rp(_settings().issuer, port, PORTAL_PATHS)


@app.command()
def demo(port: int = typer.Option(8000, metavar="N", help="Loopback port to serve on.")) -> None:
    """Embedded development setup: SQLite under var/, demo data, then serve on 127.0.0.1."""
    # Someone reads these logs in a terminal: short text lines, unless IDP_LOG_FORMAT says otherwise.
    os.environ.setdefault("IDP_LOG_FORMAT", "text")
    from idp.demo.data import HEALTH_ID, MACHINE_ID, PORTAL_ID, PORTAL_REDIRECT, seed, seed_office
    from idp.storage.migrate import upgrade
    from levels.authenticators.password import Passwords
    from levels.people import SqlPersonStore

    sock = _listening_socket("127.0.0.1", port)  # first: a busy port changes nothing
    # The issuer is the address served, unless one was set: tokens and printed URLs must match it.
    os.environ.setdefault("IDP_ISSUER", f"http://127.0.0.1:{port}")
    settings = _settings()
    upgrade(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    engine = _engine(settings)
    from idp.services import make_keyring

    make_keyring(settings, engine).ensure()
    registry = ClientRegistry(SqlClientStore(engine), cache_ttl=0, audit=AuditLog(engine).sink("demo"))
    creds = seed(registry, SqlServiceStore(engine), SqlPersonStore(engine),
                 Passwords(memory_kib=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost),
                 settings.issuer)
    from idp.services import make_offices

    office = seed_office(make_offices(settings, engine, AuditLog(engine).sink("demo")), SqlPersonStore(engine))
    engine.dispose()
    token_url = f"{settings.issuer}/token"
    typer.echo(f"""
National identity provider (demo data) at {settings.issuer}
  discovery:   {settings.issuer}/.well-known/openid-configuration

Demo citizen     national code {creds.national_code}   password {creds.password}
Demo portal      client_id {PORTAL_ID}   secret {creds.portal_secret}
                 redirect_uri {PORTAL_REDIRECT}
Demo back end    client_id {MACHINE_ID}   secret {creds.machine_secret}

1. Open this URL, sign in as the demo citizen:
   {creds.authorize_url}
2. Your browser lands on {PORTAL_REDIRECT}?code=...  (run `.venv/bin/idp demo-rp` in another
   terminal to have the demo portals show the code there; otherwise copy it from the address bar)
3. Exchange it (code_verifier {creds.code_verifier}):
   curl -s -u {PORTAL_ID}:{creds.portal_secret} {token_url} -d grant_type=authorization_code \\
     -d redirect_uri={PORTAL_REDIRECT} -d code_verifier={creds.code_verifier} -d code=PASTE_CODE
Machine token:
   curl -s -u {MACHINE_ID}:{creds.machine_secret} {token_url} -d grant_type=client_credentials

Acting for a company (demo employee: national code {creds.employee_national_code}   password \
{creds.employee_password})
a. Import the demo company, with the demo citizen as its chief executive:
   .venv/bin/idp entities import legal_entities/data/demo-companies.csv
b. As the demo citizen, open {settings.issuer}/account/companies and give the employee a mandate
   for the service tax.file.
c. In another browser (or a private window), open this URL and sign in as the employee; choose
   the company under "Act as", then exchange the code as in step 3:
   {creds.entity_authorize_url}

Single logout (keep `.venv/bin/idp demo-rp` running in another terminal: it prints what each portal hears)
i.   Sign in at the demo portal (step 1), then open the second portal, which asks for consent:
     {creds.health_authorize_url}
ii.  Sign out once, at {settings.issuer}/account/sessions ("Sign out") or through the portal's
     RP-initiated logout: {settings.issuer}/end_session?client_id={PORTAL_ID}&post_logout_redirect_uri=http://127.0.0.1:8400/
iii. Within a few seconds demo-rp prints a verified back-channel logout token for {PORTAL_ID} and
     {HEALTH_ID} (and the front-channel frame for the latter); `.venv/bin/idp logout list` shows them
     delivered, and opening either authorization URL asks for the password again.

Counter-office console (the demo citizen is the operator of office {office})
    The console asks for level {settings.office_level} (IDP_OFFICE_LEVEL). `make run` sets 1 for the demo: the demo
    citizen is not verified in person and has no passkey, so level 3 is out of their reach, and a
    password sign-in opens the console at level 1. Set IDP_OFFICE_LEVEL=3 (the default outside the demo)
    and the console sends its operator through the sign-in and step-up, as a service asking level 3 does.
A.  Open {settings.issuer}/office and sign in as the demo citizen.
B.  Find the demo employee by national code {creds.employee_national_code}, tick both checks, record the
    verification: the employee is at level 3, the text message is in {settings.sms_outbox}, and their
    {settings.issuer}/account/history says where and when. The public list: {settings.issuer}/offices
""")
    _run(sock, "127.0.0.1", port, workers=1, access_log=True)


def main() -> None:
    """The `idp` console script: `app`, with click's own errors (an unknown option, a bad value)
    printed as JSON on stderr too when the command line asks for `--json`."""
    try:
        code = app(standalone_mode=False)
    except ClickException as exc:
        if "--json" not in sys.argv[1:]:
            exc.show()
        else:
            name = ERROR_NAMES[EXIT_INVALID] if isinstance(exc, UsageError) else ERROR_NAMES[EXIT_FAILED]
            typer.echo(json.dumps({"error": name, "detail": exc.format_message()}, ensure_ascii=False), err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
