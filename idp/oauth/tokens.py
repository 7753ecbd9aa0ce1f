"""Minting of access tokens (RFC 9068 JWTs), ID tokens and refresh tokens.

The `AuthContext` is what Authlib calls the grant's "user": who authenticated, with which factors,
when, and in which SSO session. It travels inside the authorization code and the refresh token, so
a refreshed token can never claim more than the original authentication proved.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from authlib.oidc.core.util import create_half_hash

from clients.models import Client
from clients.subjects import Subjects
from idp.oauth.claims import ClaimRequest
from idp.oauth.person_refs import PERSON_REF_CLAIM, PersonRefs
from idp.oauth.refresh_tokens import RefreshTokenStore
from idp.oauth.revocations import AccessTokenRevocations
from keys.keyring import KeyRing

# RFC 8693 §3: the token type identifier of an access token.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass(frozen=True, slots=True)
class AuthContext:
    person_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str | None = None
    nonce: str | None = None
    family_id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # Identity Assurance: verified claim names asked for in the ID token / at userinfo (None: not asked).
    id_token_verified: tuple[str, ...] | None = None
    userinfo_verified: tuple[str, ...] | None = None
    # Acting for a legal entity: the `legal_entity` claim (None: the person acts in their own name).
    legal_entity: dict[str, object] | None = None
    # OIDC Core §5.5: person claims asked for by name in the ID token / at userinfo, each with the
    # value it must have (`idp.oauth.claims.requested_person_claims`); None: not asked.
    id_token_claims: ClaimRequest | None = None
    userinfo_claims: ClaimRequest | None = None

    def to_dict(self) -> dict[str, object]:
        return {"auth_time": self.auth_time, "acr": self.acr, "amr": list(self.amr), "sid": self.sid,
                "userinfo_verified": list(self.userinfo_verified) if self.userinfo_verified is not None else None,
                "legal_entity": self.legal_entity, "id_token_claims": self.id_token_claims,
                "userinfo_claims": self.userinfo_claims}

    @classmethod
    def from_refresh(cls, person_id: str, family_id: str, auth: dict[str, object]) -> AuthContext:
        return cls(
            person_id=person_id, auth_time=int(auth["auth_time"]),  # type: ignore[call-overload]
            acr=str(auth["acr"]), amr=tuple(auth.get("amr") or ()),  # type: ignore[arg-type]
            sid=auth.get("sid"), family_id=family_id,  # type: ignore[arg-type]
            userinfo_verified=tuple(auth["userinfo_verified"]) if auth.get("userinfo_verified") is not None  # type: ignore[arg-type]
            else None,
            legal_entity=auth.get("legal_entity"),  # type: ignore[arg-type]
            id_token_claims=auth.get("id_token_claims"),  # type: ignore[arg-type]
            userinfo_claims=auth.get("userinfo_claims"),  # type: ignore[arg-type]
        )


def token_type(jkt: str | None) -> str:
    """RFC 9449 §5: `DPoP` for a token bound to a DPoP key, else `Bearer` (RFC 6750)."""
    return "Bearer" if jkt is None else "DPoP"


@dataclass(frozen=True, slots=True)
class TokenLifetimes:
    access: int = 300
    id_token: int = 300
    refresh: int = 30 * 24 * 3600


class TokenIssuer:
    def __init__(
        self, *, issuer: str, keyring: KeyRing, refresh_tokens: RefreshTokenStore,
        revocations: AccessTokenRevocations, lifetimes: TokenLifetimes, default_alg: str = "ES256",
        clock: Callable[[], float] = time.time, subjects: Subjects | None = None,
        person_refs: PersonRefs | None = None,
    ) -> None:
        """`subjects` and `person_refs` serve pairwise clients; without them every `sub` is public."""
        self.issuer = issuer
        self._subjects = subjects
        self._person_refs = person_refs
        self._keyring = keyring
        self._refresh = refresh_tokens
        self._revocations = revocations
        self.lifetimes = lifetimes
        self._alg = default_alg
        self._clock = clock

    # -- whom a token is about ---------------------------------------------------------------------
    def sub(self, client: Client, person_id: str) -> str:
        """The `sub` `client` sees for the person (OIDC Core §8): the person's id for a public
        client, its sector's pairwise value for a pairwise one."""
        return self._subjects.for_client(client, person_id) if self._subjects is not None else person_id

    def subject_claims(self, client: Client, person_id: str) -> dict[str, object]:
        """The `sub` `client` sees for the person and, when it is pairwise, the sealed reference by
        which we (and only we) find the person again (`person_of`): the subject claims of an access
        token about the person meant for `client`."""
        sub = self.sub(client, person_id)
        if sub == person_id:
            return {"sub": sub}
        if self._person_refs is None:
            raise RuntimeError("pairwise subjects need person references (TokenIssuer person_refs)")
        return {"sub": sub, PERSON_REF_CLAIM: self._person_refs.seal(person_id)}

    def person_of(self, claims: dict[str, object]) -> str | None:
        """The person (or, for a machine token, client) id an access token of ours is about: its
        sealed reference when it has one, else its `sub`; None when the reference does not open."""
        ref = claims.get(PERSON_REF_CLAIM)
        if ref is None:
            return str(claims.get("sub", ""))
        if self._person_refs is None or not isinstance(ref, str):
            return None
        return self._person_refs.open(ref)

    # -- access tokens -------------------------------------------------------------------------
    def access_token(
        self, client: Client, scope: str, audience: list[str], ctx: AuthContext | None, *, jkt: str | None = None,
    ) -> tuple[str, str]:
        """Return (jwt, jti). User tokens carry sub=person, machine tokens sub=client (RFC 9068 §2.2);
        with `jkt`, the token is bound to that DPoP key (RFC 9449 §6.1: `cnf.jkt`)."""
        now = int(self._clock())
        jti = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "iss": self.issuer,
            **(self.subject_claims(client, ctx.person_id) if ctx else {"sub": client.client_id}),
            "aud": audience[0] if len(audience) == 1 else audience,
            "exp": now + self.lifetimes.access,
            "iat": now,
            "jti": jti,
            "client_id": client.client_id,
            "scope": scope,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        if ctx:
            claims.update(auth_time=ctx.auth_time, acr=ctx.acr, amr=list(ctx.amr))
            if ctx.sid:
                claims["sid"] = ctx.sid
            if ctx.legal_entity is not None:
                claims["legal_entity"] = ctx.legal_entity
            if ctx.userinfo_verified is not None:
                # Lets userinfo answer the claims request this token was issued for.
                claims["verified_claims_request"] = list(ctx.userinfo_verified)
            asked_values = {n: spec for n, spec in (ctx.userinfo_claims or {}).items() if spec}
            if asked_values:
                # Userinfo withholds a claim asked for with another value (OIDC Core §5.5.1).
                claims["claims_request"] = asked_values
        return self._keyring.sign(claims, alg=self._alg, typ="at+jwt"), jti

    def exchanged_token(
        self, client: Client, scope: str, audience: Client, ctx: AuthContext, *, act: dict[str, object],
        expires_at: int, exchanged_from: list[str], jkt: str | None = None,
    ) -> dict[str, object]:
        """RFC 8693 §2.2.1: the token response for a token exchange by `client` (the requester): a
        JWT access token addressed to the `audience` client alone, about the person in `ctx`, with
        the `sub` that client sees (`subject_claims`: pairwise for a pairwise audience). It says how
        the person authenticated as the subject token did, never more; `act` names who acts (§4.1);
        it expires no later than `expires_at` (the subject token's `exp`); `exchanged_from` are the
        ids of the tokens it was exchanged from, so revoking any of them revokes it too
        (`idp.oauth.access_tokens`); with `jkt`, it is bound to that DPoP key (RFC 9449 §6.1). No
        refresh token."""
        now = int(self._clock())
        exp = min(now + self.lifetimes.access, expires_at)
        jti = secrets.token_urlsafe(16)
        claims: dict[str, object] = {
            "iss": self.issuer, **self.subject_claims(audience, ctx.person_id), "aud": audience.client_id,
            "exp": exp, "iat": now, "jti": jti,
            "client_id": client.client_id, "scope": scope,
            "auth_time": ctx.auth_time, "acr": ctx.acr, "amr": list(ctx.amr), "act": act,
            "exchanged_from": exchanged_from,
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        if ctx.sid:
            claims["sid"] = ctx.sid  # ending the session revokes this token too
        if ctx.legal_entity is not None:
            claims["legal_entity"] = ctx.legal_entity
        return {
            "access_token": self._keyring.sign(claims, alg=self._alg, typ="at+jwt"),
            "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": token_type(jkt), "expires_in": exp - now,
            "scope": scope,
        }

    def revoke_access_tokens(self, jtis: Iterable[str], *, sid: str | None = None) -> None:
        """Revoke these access tokens and, with `sid`, every access token of that SSO session (it ended)."""
        self._revocations.revoke(jtis, sid=sid)

    def is_access_token_revoked(self, jti: str, sid: str | None = None, *, also: Iterable[str] = ()) -> bool:
        """Is the token `jti` (of session `sid`, exchanged from the tokens `also`) revoked?"""
        return self._revocations.is_revoked(jti, sid, also=also)

    def session_revoked(self, sid: str) -> bool:
        return self._revocations.session_revoked(sid)

    # -- ID tokens ------------------------------------------------------------------------------
    def id_token(
        self, client: Client, ctx: AuthContext, access_token: str | None,
        extra: dict[str, object] | None = None,
    ) -> str:
        now = int(self._clock())
        alg = client.id_token_signed_response_alg or self._alg
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": self.sub(client, ctx.person_id),
            "aud": client.client_id,
            "exp": now + self.lifetimes.id_token,
            "iat": now,
            "auth_time": ctx.auth_time,
            "acr": ctx.acr,
            "amr": list(ctx.amr),
        }
        if ctx.sid:
            claims["sid"] = ctx.sid
        if ctx.nonce:
            claims["nonce"] = ctx.nonce
        if ctx.legal_entity is not None:
            claims["legal_entity"] = ctx.legal_entity
        if access_token:
            claims["at_hash"] = create_half_hash(access_token, alg).decode()  # type: ignore[union-attr]
        if extra:
            claims.update(extra)
        return self._keyring.sign(claims, alg=alg, typ="JWT")

    # -- whole token responses ------------------------------------------------------------------
    def user_tokens(
        self, client: Client, scope: str, ctx: AuthContext, *, with_refresh: bool,
        audience: list[str] | None = None, refresh_scope: str | None = None, replaces: str | None = None,
        jkt: str | None = None, refresh_jkt: str | None = None,
    ) -> tuple[dict[str, object], str]:
        """Return the token response body and the access token's jti. `replaces` is the hash of the
        refresh token being rotated (see `RefreshTokenStore.issue`). `jkt` binds the access token to
        a DPoP key, `refresh_jkt` the refresh token (`idp.oauth.dpop` says which are bound)."""
        access, jti = self.access_token(client, scope, audience or [self.issuer], ctx, jkt=jkt)
        token: dict[str, object] = {
            "access_token": access, "token_type": token_type(jkt),
            "expires_in": self.lifetimes.access, "scope": scope,
        }
        if with_refresh:
            token["refresh_token"] = self._refresh.issue(
                family_id=ctx.family_id, client_id=client.client_id, person_id=ctx.person_id,
                session_id=ctx.sid, scope=refresh_scope or scope, access_jti=jti,
                auth=ctx.to_dict() if refresh_jkt is None else {**ctx.to_dict(), "dpop_jkt": refresh_jkt},
                ttl=self.lifetimes.refresh, replaces=replaces,
            )
        return token, jti

    def client_token(
        self, client: Client, scope: str, audience: list[str], *, jkt: str | None = None,
    ) -> dict[str, object]:
        access, _ = self.access_token(client, scope, audience, None, jkt=jkt)
        return {"access_token": access, "token_type": token_type(jkt),
                "expires_in": self.lifetimes.access, "scope": scope}
