"""Clients the provider is itself: its own pages that sign people in the way an agency does.

The counter-office console (`idp.office.console`) is a relying party of this provider, as Keycloak's
account console is a client of Keycloak: it sends the operator through `/authorize`, so the same
sign-in pages ask for whatever the office level still needs (a passkey, a TOTP code, proofing) and no
second way of raising a session exists beside the agencies' one.

Built-in clients are made here from the settings (their redirect URI is the issuer's own) and handed
to the `clients.registry.ClientRegistry`, which answers for them before its store and refuses to
change or delete them. They are never stored: nothing in the database can alter them, a fresh
database needs no seeding, and a change of issuer moves them with it. Because they are not
registered clients, they are in no listing (`ClientRegistry.list`: the CLI, the service catalogue),
and because the console issues itself no tokens and asks no consent, they are never among the
person's connected services.
"""

from __future__ import annotations

from clients.models import Client
from idp.settings import Settings

OFFICE_CONSOLE = "idp-office-console"
OFFICE_CALLBACK = "/office/callback"
OFFICE_CONSOLE_NAME = "Counter-office console"
OFFICE_CONSOLE_NAME_FA = "میز کار دفتر پیشخوان"


def built_in_clients(settings: Settings) -> tuple[Client, ...]:
    """The console: a public client (it keeps no secret; PKCE protects its codes), code flow only,
    no refresh tokens, no consent (it is the provider itself). Its level comes with each request
    (`acr_values`): first a sign-in, then the office level once the person is known to be an operator."""
    return (
        Client(
            client_id=OFFICE_CONSOLE, name=OFFICE_CONSOLE_NAME, name_fa=OFFICE_CONSOLE_NAME_FA,
            name_en=OFFICE_CONSOLE_NAME, token_endpoint_auth_method="none",
            redirect_uris=(settings.endpoint(OFFICE_CALLBACK),), post_logout_redirect_uris=(),
            grant_types=("authorization_code",), scopes=("openid",), require_consent=False, min_level=1,
        ),
    )

