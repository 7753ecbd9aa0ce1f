from sqlalchemy import inspect

from idp.storage.migrate import current, heads


def test_migrations_create_every_table_and_record_head(engine, database_url):
    tables = set(inspect(engine).get_table_names())
    assert {"people", "password_credentials", "clients", "signing_keys", "refresh_tokens",
            "consents", "audit_events", "legal_entities", "representations", "sso_sessions",
            "logout_deliveries", "access_token_revocations", "used_client_assertions", "exchange_permissions",
            "offices", "office_operators", "office_actions", "activation_codes", "audit_chains"} <= tables
    assert current(database_url) == heads() == ("0019",)  # one linear history
