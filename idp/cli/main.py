"""The `idp` command: serve, migrate, and administer keys, clients, people and legal entities."""

from __future__ import annotations

import typer
from sqlalchemy import Engine

from clients.exchange import ExchangePermissions, SqlExchangeStore
from clients.registry import ClientRegistry
from clients.sector import HttpSectorFetcher
from clients.services import ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.audit import AuditLog
from idp.cli.clients import build_app as build_clients_app
from idp.cli.entities import build_app as build_entities_app
from idp.cli.keys import build_app as build_keys_app
from idp.cli.logout import build_app as build_logout_app
from idp.cli.offices import OfficesContext
from idp.cli.offices import build_app as build_offices_app
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, fail, print_json
from idp.cli.people import PeopleContext
from idp.cli.people import build_app as build_people_app
from idp.sessions.delivery import LogoutDeliverer
from idp.sessions.outbox import LogoutOutbox
from idp.settings import Settings
from keys.keyring import KeyRing
from legal_entities.service import LegalEntities
from legal_entities.store_sql import SqlLegalEntitiesStore

app = typer.Typer(help="National single sign-on identity provider.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # noqa: BLE001 - pydantic's message names the bad variable
        fail(f"invalid IDP_* settings: {exc}", EXIT_INVALID)


def _engine(settings: Settings) -> Engine:
    from idp.services import make_database

    return make_database(settings, statement_timeout=False)


def _database() -> tuple[Settings, Engine]:
    settings = _settings()
    return settings, _engine(settings)


def _keyring() -> KeyRing:
    from idp.services import make_keyring

    settings, engine = _database()
    return make_keyring(settings, engine)


def _client_registry(engine: Engine, audit: AuditLog) -> ClientRegistry:
    # No cache: every command reads the clients as they are now.
    # A pairwise client's sector identifier URI is fetched and checked at registration (OIDC Core §8.1).
    return ClientRegistry(SqlClientStore(engine), cache_ttl=0, audit=audit.sink("cli"),
                          sector_fetch=HttpSectorFetcher())


def _registry() -> ClientRegistry:
    _, engine = _database()
    return _client_registry(engine, AuditLog(engine))


def _services() -> ServiceCatalogue:
    _, engine = _database()
    audit = AuditLog(engine)
    return ServiceCatalogue(_client_registry(engine, audit), SqlServiceStore(engine), audit=audit.sink("cli"))


def _exchanges() -> ExchangePermissions:
    _, engine = _database()
    audit = AuditLog(engine)
    return ExchangePermissions(_client_registry(engine, audit), SqlExchangeStore(engine), SqlServiceStore(engine),
                               audit=audit.sink("cli"))


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
    return make_backchannel(settings, engine, make_keyring(settings, engine, kek), _client_registry(engine, audit),
                            audit, make_subjects(settings, kek))


app.add_typer(build_keys_app(_keyring), name="keys", help="Signing keys: list and rotate.")
app.add_typer(build_clients_app(_registry, _services, _exchanges), name="clients",
              help="Registered clients (agency portals) and their services.")

people_app = build_people_app(_people_context)
app.add_typer(people_app, name="people",
              help="People: add, show, verify in person, import existing accounts, sign out everywhere.")
app.add_typer(build_entities_app(_entities), name="entities",
              help="Legal entities: import from the companies registry, list, show, grant and revoke mandates.")


app.add_typer(build_offices_app(_offices_context), name="offices",
              help="Counter offices and their operators: add, list, disable, operators add/list/remove.")
app.add_typer(build_logout_app(_backchannel), name="logout",
              help="Back-channel logout notifications: list, deliver now, retry failed.")


@people_app.command("sign-out")
def people_sign_out(
    national_code: str = typer.Option(..., "--national-code", help="The person's national code."),
    operator: str = typer.Option("cli", "--operator", help="Who is doing this, for the audit log."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """End every session of the person on every device: their clients get back-channel logout
    notifications and the refresh tokens issued in those sessions stop working."""
    from idp.services import Services
    from levels.iranian_input import InvalidNationalCode, parse_national_code

    try:
        code = parse_national_code(national_code)
    except InvalidNationalCode as exc:
        fail(str(exc), EXIT_INVALID)
    svc = Services.build(_settings())
    person = svc.people.get_by_national_code(code)
    if person is None:
        fail("no person with this national code", EXIT_FAILED)
    ended = svc.logout.end_all(person.id, reason="operator", actor=f"operator:{operator}")
    svc.engine.dispose()
    clients = sorted({c for e in ended for c in e.clients})
    if as_json:
        print_json({"sessions_ended": [e.sid for e in ended], "clients_notified": clients})
        return
    typer.echo(f"Ended {len(ended)} session(s)" + (f"; notifying {', '.join(clients)}." if clients else "."))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Apply schema migrations."""
    from idp.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision, transaction_pooling=settings.database_transaction_pooling)
    typer.echo("database is up to date")


@app.command()
def init() -> None:
    """Migrate the database, create the key-encryption key file and the signing keys."""
    from idp.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, transaction_pooling=settings.database_transaction_pooling)
    _keyring().ensure()
    typer.echo("initialised: database migrated, signing keys ready")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000),
    workers: int = typer.Option(1, min=1, help="Worker processes; more than one needs IDP_REDIS_URL."),
    access_log: bool | None = typer.Option(
        None, "--access-log/--no-access-log", help="Log every request (default: IDP_ACCESS_LOG, off)."),
) -> None:
    """Run the provider with uvicorn."""
    import atexit
    import os
    import shutil
    import tempfile

    import uvicorn

    from idp.logs import dict_config

    if access_log is not None:
        # The workers build the app from the environment (idp.web.asgi): the choice goes there.
        os.environ["IDP_ACCESS_LOG"] = "true" if access_log else "false"
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
    # The loop and parser the benchmark measures (bench/server.py): asyncio's loop was no slower
    # than uvloop here and schedules the thread pool's replies more evenly.
    # Our access log (idp.web.logs) replaces uvicorn's: route templates, request ids, no query strings.
    # Every process, the supervisor's included, logs in IDP_LOG_FORMAT (idp.logs).
    uvicorn.run("idp.web.asgi:create", factory=True, host=host, port=port, workers=workers, loop="asyncio",
                http="httptools", access_log=False, proxy_headers=False, server_header=False,
                log_config=dict_config(settings.log_format, settings.log_level), log_level=settings.log_level.lower())


@app.command("demo-rp")
def demo_rp(port: int = typer.Option(8400, help="Loopback port the demo portals listen on.")) -> None:
    """The demo portals' side of `make run`: shows their codes and prints the logouts they receive."""
    from idp.demo.data import PORTAL_PATHS
    from idp.demo.relying_party import serve as serve_demo_rp

    serve_demo_rp(_settings().issuer, port, PORTAL_PATHS)


@app.command()
def demo(port: int = typer.Option(8000)) -> None:
    """Embedded development setup: SQLite under var/, demo data, then serve on 127.0.0.1."""
    import os

    # Someone reads these logs in a terminal: short text lines, unless IDP_LOG_FORMAT says otherwise.
    os.environ.setdefault("IDP_LOG_FORMAT", "text")
    from idp.demo.data import HEALTH_ID, MACHINE_ID, PORTAL_ID, PORTAL_REDIRECT, seed, seed_office
    from idp.storage.migrate import upgrade
    from levels.authenticators.password import Passwords
    from levels.people import SqlPersonStore

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

Counter-office console (the demo citizen is the operator of office {office}; the console asks for
level {settings.office_level}, IDP_OFFICE_LEVEL — `make run` sets 1 so a password sign-in will do)
A.  Open {settings.issuer}/office and sign in as the demo citizen.
B.  Find the demo employee by national code {creds.employee_national_code}, tick both checks, record the
    verification: the employee is at level 3, the text message is in {settings.sms_outbox}, and their
    {settings.issuer}/account/history says where and when. The public list: {settings.issuer}/offices
""")
    serve(host="127.0.0.1", port=port, workers=1, access_log=True)


if __name__ == "__main__":
    app()
