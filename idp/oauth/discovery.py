"""OpenID Provider metadata: https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata

Built once at start-up; served as pre-serialized bytes by `idp.web.fast_paths`.
"""

from __future__ import annotations

import orjson

from idp.oauth.claims import SUPPORTED_SCOPES, supported_claims
from idp.oauth.dpop import ALGORITHMS as DPOP_ALGORITHMS
from idp.oauth.grants.client_auth import ALL_METHODS, CONFIDENTIAL_METHODS
from idp.oauth.request_object import ALGORITHMS as REQUEST_OBJECT_ALGORITHMS
from idp.settings import Settings
from idp.web.i18n import LOCALES
from levels.policy import Policy


def metadata(settings: Settings, policy: Policy) -> dict[str, object]:
    url = settings.endpoint
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": url("/authorize"),
        "token_endpoint": url("/token"),
        "userinfo_endpoint": url("/userinfo"),
        "jwks_uri": url("/jwks"),
        "end_session_endpoint": url("/end_session"),
        "introspection_endpoint": url("/introspect"),
        "revocation_endpoint": url("/revoke"),
        "pushed_authorization_request_endpoint": url("/par"),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  "urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ALL_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "revocation_endpoint_auth_methods_supported": ALL_METHODS,
        "code_challenge_methods_supported": ["S256"],
        # RFC 9449 §5.1: proofs are accepted at the token endpoint, userinfo and introspection.
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "claims_supported": supported_claims(),
        "acr_values_supported": policy.acr_values(),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": list(LOCALES),
        "claims_parameter_supported": True,
        # RFC 9126 §5: pushed requests are required of every client, or (client metadata) of some.
        "require_pushed_authorization_requests": settings.require_pushed_authorization_requests,
        # RFC 9101 by value and inside pushed requests; signed, never `none` (idp.oauth.request_object).
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGORITHMS),
        # request_uri is accepted only as the urn:ietf:params:oauth:request_uri: of a pushed request
        # (RFC 9126 §4); no URL is ever fetched.
        "request_uri_parameter_supported": True,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
    }


def metadata_bytes(settings: Settings, policy: Policy) -> bytes:
    return orjson.dumps(metadata(settings, policy))
