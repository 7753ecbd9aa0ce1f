"""The identity provider's web layer: ASGI app, OIDC endpoints, pages and the `idp` CLI."""
