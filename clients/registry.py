"""The client registry: the one way clients are created, changed and looked up.

Every change is validated by `clients.models.check_client_metadata`, stored, audited and evicted
from this process's cache. Other processes keep serving their cached copy for up to `cache_ttl`
seconds, which bounds how long a disabled client or a rotated secret can still be accepted there.

Built-in clients (the provider's own pages that sign people in, e.g. `idp.built_in_clients`) are
handed to the registry when it is made: `get` finds them before the store, `list` leaves them out
(they are not registered clients), and every change or deletion of one raises `BuiltInClient`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from clients.errors import ClientsError
from clients.models import Client, InvalidClientMetadata, check_client_metadata
from clients.secrets import hash_secret, new_secret
from clients.sector import SectorFetch, SectorIdentifierError, missing_redirect_uris
from clients.store import ClientExists, ClientStore, UnknownClient

__all__ = ["BuiltInClient", "ClientExists", "ClientRegistry", "UnknownClient", "utcnow"]

Clock = Callable[[], datetime]
Audit = Callable[[str, Mapping[str, object]], None]

# Fields `update` may change. client_id is the key; secret_hash only through rotate_secret;
# enabled only through set_enabled, so each gets its own audit event.
UPDATABLE_FIELDS: frozenset[str] = frozenset(
    {
        "name", "token_endpoint_auth_method", "redirect_uris", "post_logout_redirect_uris",
        "grant_types", "scopes", "audiences", "jwks", "id_token_signed_response_alg",
        "backchannel_logout_uri", "backchannel_logout_session_required", "frontchannel_logout_uri",
        "frontchannel_logout_session_required", "require_consent", "min_level", "subject_type",
        "sector_identifier_uri", "require_pushed_authorization_requests", "dpop_bound_access_tokens", "profile",
        "name_fa", "name_en", "logo_uri", "client_uri", "policy_uri", "tos_uri", "contacts",
    }
)
# Changing any of these makes the registry check the sector identifier document again.
_SECTOR_FIELDS = frozenset({"subject_type", "sector_identifier_uri", "redirect_uris"})
_LIST_FIELDS = ("redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "audiences", "contacts")
_MAX_CACHED = 10_000
_SECRET_HASH = re.compile(r"[0-9a-f]{64}")
# The longest an old secret may keep working after a rotation.
MAX_SECRET_GRACE = timedelta(days=30)
# A secret brought from elsewhere: at least as long as 192 random bits in URL-safe text.
MIN_BROUGHT_SECRET = 32


class BuiltInClient(ClientsError, PermissionError):
    """The client is part of the provider itself: it cannot be changed, disabled or deleted."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class ClientRegistry:
    """Registered clients with validation, auditing and a short in-process read cache."""

    def __init__(
        self,
        store: ClientStore,
        *,
        clock: Clock = utcnow,
        cache_ttl: float = 5.0,
        audit: Audit | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sector_fetch: SectorFetch | None = None,
        built_in: Iterable[Client] = (),
    ) -> None:
        """`sector_fetch` reads a pairwise client's sector identifier document
        (`clients.sector.HttpSectorFetcher`); without it such a client cannot be registered.
        `built_in`: clients the provider is itself, answered before the store and never changed."""
        self._store = store
        self._built_in = {client.client_id: client for client in built_in}
        self._sector_fetch = sector_fetch
        self._clock = clock
        self._ttl = cache_ttl
        # Misses are cached briefly: long enough to absorb a flood of unknown ids, short enough that
        # a client created in another process becomes usable almost at once.
        self._miss_ttl = min(cache_ttl, 1.0)
        self._audit = audit
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Client | None]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    # Reads

    def get(self, client_id: str) -> Client | None:
        """Return the client (enabled or not) or None; served from cache for up to `cache_ttl` s."""
        built_in = self._built_in.get(client_id)
        if built_in is not None:
            return built_in
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(client_id)
            if hit is not None and hit[0] > now:
                return hit[1]
            generation = self._generation
        client = self._store.get(client_id)
        if self._ttl <= 0:
            return client
        expires = now + (self._ttl if client is not None else self._miss_ttl)
        with self._lock:
            # A change made while we were reading would otherwise be overwritten by the stale copy.
            if generation == self._generation:
                if len(self._cache) >= _MAX_CACHED:
                    self._evict(now)
                self._cache[client_id] = (expires, client)
        return client

    def existing(self, client_id: str) -> Client:
        """`get`, for a client that must exist: raises `UnknownClient` if there is none."""
        client = self.get(client_id)
        if client is None:
            raise UnknownClient(client_id)
        return client

    def cached(self, client_id: str, margin: float = 1.0) -> bool:
        """Whether `get` will answer from this process's cache, without reading the store, for at
        least `margin` more seconds (callers use it to skip a thread hop on the event loop)."""
        with self._lock:
            hit = self._cache.get(client_id)
        return hit is not None and hit[0] > self._monotonic() + margin

    def list(self) -> list[Client]:
        """Every registered client, ordered by client_id, read from the store (never cached); the
        built-in ones are not registered and not listed."""
        return self._store.list()

    def is_built_in(self, client_id: str) -> bool:
        return client_id in self._built_in

    def changeable(self, client_id: str) -> None:
        """Raise `BuiltInClient` if the client is built in (callers that change a client's records)."""
        if client_id in self._built_in:
            raise BuiltInClient(client_id)

    # Changes

    def create(
        self,
        *,
        client_id: str | None = None,
        name: str,
        token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
        redirect_uris: Iterable[str] = (),
        post_logout_redirect_uris: Iterable[str] = (),
        grant_types: Iterable[str] = ("authorization_code", "refresh_token"),
        scopes: Iterable[str] = ("openid",),
        audiences: Iterable[str] = (),
        jwks: Mapping[str, object] | None = None,
        id_token_signed_response_alg: str = "ES256",  # noqa: S107 - an algorithm name
        backchannel_logout_uri: str | None = None,
        backchannel_logout_session_required: bool = True,
        frontchannel_logout_uri: str | None = None,
        frontchannel_logout_session_required: bool = True,
        require_consent: bool = False,
        min_level: int = 1,
        subject_type: str = "public",
        sector_identifier_uri: str | None = None,
        require_pushed_authorization_requests: bool | None = None,
        dpop_bound_access_tokens: bool | None = None,
        profile: str | None = None,
        name_fa: str | None = None,
        name_en: str | None = None,
        logo_uri: str | None = None,
        client_uri: str | None = None,
        policy_uri: str | None = None,
        tos_uri: str | None = None,
        contacts: Iterable[str] = (),
    ) -> tuple[Client, str | None]:
        """Register a client; return it and its plaintext secret, which is never available again.

        The secret is None for clients that do not authenticate with one (`private_key_jwt`,
        `none`). Only its hash is stored. A profile turns on what it requires unless told otherwise
        (`fapi2`: pushed requests and DPoP). Raises `InvalidClientMetadata` or `ClientExists`.
        """
        hardened = profile == "fapi2"
        now = self._clock()
        client = Client(
            client_id=client_id if client_id is not None else secrets.token_urlsafe(18),
            name=name,
            token_endpoint_auth_method=token_endpoint_auth_method,
            redirect_uris=_as_tuple("redirect_uris", redirect_uris),
            post_logout_redirect_uris=_as_tuple("post_logout_redirect_uris", post_logout_redirect_uris),
            grant_types=_as_tuple("grant_types", grant_types),
            scopes=_as_tuple("scopes", scopes),
            audiences=_as_tuple("audiences", audiences),
            jwks=jwks,
            id_token_signed_response_alg=id_token_signed_response_alg,
            backchannel_logout_uri=backchannel_logout_uri,
            backchannel_logout_session_required=backchannel_logout_session_required,
            frontchannel_logout_uri=frontchannel_logout_uri,
            frontchannel_logout_session_required=frontchannel_logout_session_required,
            require_consent=require_consent,
            min_level=min_level,
            subject_type=subject_type,
            sector_identifier_uri=sector_identifier_uri,
            require_pushed_authorization_requests=(
                hardened if require_pushed_authorization_requests is None else require_pushed_authorization_requests),
            dpop_bound_access_tokens=hardened if dpop_bound_access_tokens is None else dpop_bound_access_tokens,
            profile=profile,
            name_fa=name_fa,
            name_en=name_en,
            logo_uri=logo_uri,
            client_uri=client_uri,
            policy_uri=policy_uri,
            tos_uri=tos_uri,
            contacts=_as_tuple("contacts", contacts),
            created_at=now,
            updated_at=now,
        )
        check_client_metadata(client)
        if client.client_id in self._built_in:
            raise ClientExists(client.client_id)
        self._check_sector(client)
        secret = new_secret() if client.uses_secret else None
        if secret is not None:
            client = replace(client, secret_hash=hash_secret(secret))
        self._store.add(client)
        self._changed(client.client_id, "client.created")
        return client, secret

    def update(self, client_id: str, /, **changes: object) -> Client:
        """Change metadata fields (see `UPDATABLE_FIELDS`) and return the stored client.

        Switching to a method without a secret discards the stored hash. Switching to a secret
        method from one without leaves the client with no secret until `rotate_secret` is called.
        Raises `UnknownClient` or `InvalidClientMetadata`.
        """
        not_allowed = sorted(set(changes) - UPDATABLE_FIELDS)
        if not_allowed:
            raise InvalidClientMetadata(not_allowed[0], "cannot be changed with update")
        current = self._require(client_id)
        values = {k: _as_tuple(k, v) if k in _LIST_FIELDS else v for k, v in changes.items()}
        if values.get("profile") == "fapi2":
            # As at creation: the profile turns on what it requires unless told otherwise here.
            values.setdefault("require_pushed_authorization_requests", True)
            values.setdefault("dpop_bound_access_tokens", True)
        client = replace(current, **values, updated_at=self._clock())  # type: ignore[arg-type]
        if not client.uses_secret:
            client = replace(client, secret_hash=None, previous_secret_hash=None, previous_secret_expires_at=None)
        check_client_metadata(client)
        if _SECTOR_FIELDS & set(changes):
            self._check_sector(client)
        self._store.save(client)
        self._changed(client_id, "client.updated", fields=sorted(changes))
        return client

    def rotate_secret(self, client_id: str, grace: timedelta | None = None) -> str:
        """Replace the client's secret and return the new one. The old one stops working at once, or
        with `grace` keeps working that long (a portal with many instances updates them one by
        one); a rotation ends any earlier grace period.

        Raises `UnknownClient`, or `InvalidClientMetadata` if the client's auth method uses no secret
        or the grace period is negative or longer than `MAX_SECRET_GRACE`.
        """
        current = self._require(client_id)
        if not current.uses_secret:
            raise InvalidClientMetadata(
                "token_endpoint_auth_method",
                f"{current.token_endpoint_auth_method!r} does not use a client secret",
            )
        if grace is not None and not timedelta(0) <= grace <= MAX_SECRET_GRACE:
            raise InvalidClientMetadata("grace", f"must be from 0 to {MAX_SECRET_GRACE.days} days")
        secret, now = new_secret(), self._clock()
        keep = bool(grace) and current.secret_hash is not None
        self._store.save(replace(
            current, secret_hash=hash_secret(secret), updated_at=now,
            previous_secret_hash=current.secret_hash if keep else None,
            previous_secret_expires_at=now + grace if keep and grace is not None else None))
        if keep and grace is not None:
            self._changed(client_id, "client.secret_rotated", grace_seconds=int(grace.total_seconds()))
        else:
            self._changed(client_id, "client.secret_rotated")
        return secret

    def import_client(self, client: Client, *, replace_existing: bool = False) -> tuple[Client, bool]:
        """Store a client brought from another environment as it is, with its secret hash if it has
        one (`clients.transfer`); return it and whether it was new. An existing client with this id
        is replaced only with `replace_existing` (keeping its creation time), else `ClientExists`.
        Raises `InvalidClientMetadata` as `create` does, `BuiltInClient` for a built-in client's id."""
        self.changeable(client.client_id)
        if client.secret_hash is not None and not _SECRET_HASH.fullmatch(client.secret_hash):
            raise InvalidClientMetadata("secret_hash", "must be the 64 lowercase hex digits of a SHA-256")
        if not client.uses_secret and client.secret_hash is not None:
            raise InvalidClientMetadata("secret_hash", f"{client.token_endpoint_auth_method!r} uses no secret")
        check_client_metadata(client)
        self._check_sector(client)
        now = self._clock()
        current = self._store.get(client.client_id) if replace_existing else None
        if current is None:
            self._store.add(replace(client, created_at=now, updated_at=now))
            self._changed(client.client_id, "client.imported")
            return self._require(client.client_id), True
        self._store.save(replace(client, created_at=current.created_at, updated_at=now))
        self._changed(client.client_id, "client.imported", replaced=True)
        return self._require(client.client_id), False

    def set_secret(self, client_id: str, secret: str) -> None:
        """Give the client a secret it already has elsewhere (a portal moving from another provider
        keeps its configuration). Only its hash is stored, and a fast one (`clients.secrets`), so a
        secret shorter than `MIN_BROUGHT_SECRET` characters is refused: it could be guessed back
        from the hash."""
        current = self._require(client_id)
        if not current.uses_secret:
            raise InvalidClientMetadata(
                "token_endpoint_auth_method", f"{current.token_endpoint_auth_method!r} does not use a client secret")
        if len(secret) < MIN_BROUGHT_SECRET or len(secret) > 512 or any(c.isspace() for c in secret):
            raise InvalidClientMetadata(
                "client_secret", f"must be {MIN_BROUGHT_SECRET} to 512 characters with no spaces")
        self._store.save(replace(current, secret_hash=hash_secret(secret), updated_at=self._clock(),
                                 previous_secret_hash=None, previous_secret_expires_at=None))
        self._changed(client_id, "client.secret_set")

    def set_enabled(self, client_id: str, enabled: bool) -> Client:
        """Enable or disable the client; a disabled client cannot authenticate or log anyone in."""
        current = self._require(client_id)
        if current.enabled == enabled:
            return current
        client = replace(current, enabled=enabled, updated_at=self._clock())
        self._store.save(client)
        self._changed(client_id, "client.enabled" if enabled else "client.disabled")
        return client

    def delete(self, client_id: str) -> None:
        """Remove the client; raises `UnknownClient` if it does not exist."""
        self.changeable(client_id)
        if not self._store.delete(client_id):
            raise UnknownClient(client_id)
        self._changed(client_id, "client.deleted")

    # Internals

    def _check_sector(self, client: Client) -> None:
        """OIDC Core §8.1: a pairwise client's sector identifier document must list every one of
        its redirect URIs (OIDC Dynamic Client Registration 1.0 §5)."""
        uri = client.sector_identifier_uri
        if client.subject_type != "pairwise" or uri is None:
            return
        if self._sector_fetch is None:
            raise InvalidClientMetadata("sector_identifier_uri", "cannot be checked here (no way to fetch it)")
        try:
            listed = self._sector_fetch(uri)
        except SectorIdentifierError as err:
            raise InvalidClientMetadata("sector_identifier_uri", str(err)) from None
        missing = missing_redirect_uris(listed, client.redirect_uris)
        if missing:
            raise InvalidClientMetadata(
                "sector_identifier_uri", f"the document does not list the redirect URI {missing[0]}")

    def _require(self, client_id: str) -> Client:
        """The stored client about to be changed (`update`, `rotate_secret`, `set_enabled`)."""
        self.changeable(client_id)
        client = self._store.get(client_id)
        if client is None:
            raise UnknownClient(client_id)
        return client

    def _changed(self, client_id: str, event: str, **detail: object) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop(client_id, None)
        if self._audit is not None:
            self._audit(event, {"client_id": client_id, **detail})

    def _evict(self, now: float) -> None:
        expired = [k for k, (expires, _) in self._cache.items() if expires <= now]
        for key in expired:
            del self._cache[key]
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()


def _as_tuple(field: str, values: object) -> tuple[str, ...]:
    # A bare string would otherwise be split into characters.
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidClientMetadata(field, "must be a list of strings")
    return tuple(dict.fromkeys(values))
