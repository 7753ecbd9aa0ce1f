"""Shared steps of protocol tests: obtain user tokens through the real front channel."""

from __future__ import annotations

from tests.idp.conftest import ISSUER, Idp, sign_in


def user_tokens(idp: Idp, scope: str = "openid profile offline_access", client_id: str = "portal",
                client_secret: str | None = None, redirect_uri: str | None = None) -> dict[str, str]:
    kwargs = {"scope": scope}
    if redirect_uri:
        kwargs["redirect_uri"] = redirect_uri
    oauth = idp.oauth(client_id, client_secret=client_secret, **kwargs)
    verifier = "k" * 64
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    return dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier))
