"""Schema migrations (Alembic), callable from the CLI and from tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads", *, transaction_pooling: bool = False) -> None:
    """`transaction_pooling`: the URL names PgBouncer in transaction mode (`IDP_DATABASE_TRANSACTION_POOLING`)."""
    config = alembic_config(database_url)
    config.attributes["transaction_pooling"] = transaction_pooling
    command.upgrade(config, revision)


def current(database_url: str) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    from idp.storage.database import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()


def heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))
