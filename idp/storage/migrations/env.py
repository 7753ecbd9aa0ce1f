"""Alembic environment: one migration history for every package's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from clients.store_sql import Base as ClientsBase
from idp.storage.database import make_engine
from idp.storage.tables import Base as IdpBase
from keys.store_sql import Base as KeysBase
from legal_entities.store_sql import Base as LegalEntitiesBase
from levels.activation_sql import ActivationCodeRow  # noqa: F401 - declares its table on LevelsBase
from levels.authenticators.passkey_sql import PasskeyCredentialRow  # noqa: F401 - declares its table on LevelsBase
from levels.credentials_sql import Base as CredentialsBase
from levels.offices_sql import OfficeRow  # noqa: F401 - declares its tables on LevelsBase
from levels.proofing_sql import ProofingRecordRow  # noqa: F401 - declares its table on LevelsBase
from levels.store_sql import Base as LevelsBase

target_metadata = [IdpBase.metadata, KeysBase.metadata, ClientsBase.metadata, LevelsBase.metadata,
                   CredentialsBase.metadata, LegalEntitiesBase.metadata]


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "",
                         transaction_pooling=config.attributes.get("transaction_pooling", False))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
