"""The admin API (`/admin/v1`): what the `idp` command line does to clients, people, legal entities
and keys, over HTTP for automation, with its own OpenAPI 3.1 document.

Callers are operator clients: registered like any client, they get an access token from our own
token endpoint (`client_credentials`, normally `private_key_jwt`) for the admin audience
`<issuer>/admin/v1` with the admin scopes (`clients.scopes.ADMIN_SCOPES`). Every change goes
through the same domain objects as the command line, audited as `client:<client_id>`.
"""

from idp.admin.app import ADMIN_PATH, admin_audience, build_admin_app

__all__ = ["ADMIN_PATH", "admin_audience", "build_admin_app"]
