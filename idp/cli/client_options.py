"""What `idp clients`, `idp clients services` and `idp clients exchange` share: the client's fields
as command-line options (each defined once, for `create` and `update` alike), the client_id argument
and the error table.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, TypeVar

import typer

from clients.exchange import InvalidExchange
from clients.models import InvalidClientMetadata
from clients.registry import BuiltInClient
from clients.scopes import UnknownScope
from clients.services import InvalidService
from clients.store import ClientExists, UnknownClient
from idp.cli.output import EXIT_FAILED, EXIT_INVALID, Errors, fail

# Exit codes: 1 for a failed operation (unknown or duplicate client, database), 2 for invalid input.
errors = Errors(
    (BuiltInClient, lambda exc: f"{exc.args[0]!r} is part of the identity provider and cannot be changed",
     EXIT_FAILED),
    (InvalidClientMetadata, lambda exc: f"invalid client: {exc}", EXIT_INVALID),
    (UnknownScope, lambda exc: f"invalid client: {exc}", EXIT_INVALID),
    (InvalidService, lambda exc: f"invalid service: {exc}", EXIT_INVALID),
    (InvalidExchange, lambda exc: f"invalid exchange permission: {exc}", EXIT_INVALID),
    (UnknownClient, lambda exc: f"no client {exc.args[0]!r}", EXIT_FAILED),
    (ClientExists, lambda exc: f"a client {exc.args[0]!r} already exists", EXIT_FAILED),
)

ClientIdArg = Annotated[str, typer.Argument(metavar="CLIENT_ID", help="The client's client_id.")]

# Registry keyword arguments, as a command receives them from `client_fields`.
ClientFields = Mapping[str, object]
NO_FIELDS: ClientFields = MappingProxyType({})


class YesNo(StrEnum):
    """A yes-or-no option whose name is too long for a --flag/--no-flag pair to fit 80 columns."""

    yes = "yes"
    no = "no"


@dataclass(frozen=True, slots=True)
class FieldOption:
    """One client field as a command-line option.

    `param` is the Python parameter name, `field` the registry keyword argument, `option` the
    Annotated type Typer reads. `clear`, if set, is the spelling `update --clear` empties the field
    with, and `empty` the value it is emptied to.
    """

    param: str
    field: str
    option: Any
    clear: str | None = None
    empty: object = None


_OPTIONS: tuple[FieldOption, ...] = (
    FieldOption("auth_method", "token_endpoint_auth_method", Annotated[
        str | None,
        typer.Option(
            "--auth-method", metavar="TEXT",
            help="Token endpoint auth method: client_secret_basic, client_secret_post, private_key_jwt, none.",
        ),
    ]),
    FieldOption("redirect_uri", "redirect_uris", Annotated[
        list[str] | None, typer.Option("--redirect-uri", metavar="TEXT", help="Repeatable.")
    ], clear="redirect-uri", empty=()),
    FieldOption("post_logout_redirect_uri", "post_logout_redirect_uris", Annotated[
        list[str] | None, typer.Option("--post-logout-redirect-uri", metavar="TEXT", help="Repeatable.")
    ], clear="post-logout-redirect-uri", empty=()),
    FieldOption("grant_type", "grant_types", Annotated[
        list[str] | None,
        typer.Option("--grant-type", metavar="TEXT",
                     help="Repeatable: authorization_code, refresh_token, client_credentials."),
    ]),
    FieldOption("scope", "scopes", Annotated[
        list[str] | None, typer.Option("--scope", metavar="TEXT", help="Repeatable: a scope it may receive.")
    ], clear="scope", empty=()),
    FieldOption("audience", "audiences", Annotated[
        list[str] | None, typer.Option("--audience", metavar="TEXT",
                                       help="Repeatable: an API its access tokens may target.")
    ], clear="audience", empty=()),
    # The file is read into the `jwks` field (see `_given`).
    FieldOption("jwks_file", "jwks", Annotated[
        Path | None, typer.Option("--jwks-file", metavar="FILE", help="JSON file with the client's public JWK Set.")
    ], clear="jwks"),
    FieldOption("alg", "id_token_signed_response_alg", Annotated[
        str | None, typer.Option("--alg", metavar="TEXT", help="ID token signing alg: ES256 or RS256.")
    ]),
    FieldOption("backchannel_logout_uri", "backchannel_logout_uri", Annotated[
        str | None, typer.Option("--backchannel-logout-uri", metavar="TEXT", help="Back-channel logout endpoint.")
    ], clear="backchannel-logout-uri"),
    FieldOption("backchannel_logout_session_required", "backchannel_logout_session_required", Annotated[
        YesNo | None,
        typer.Option("--backchannel-logout-session-required",
                     help="Whether back-channel logout tokens must carry the session id (default: yes)."),
    ]),
    FieldOption("frontchannel_logout_uri", "frontchannel_logout_uri", Annotated[
        str | None,
        typer.Option("--frontchannel-logout-uri", metavar="TEXT",
                     help="Front-channel logout page (no fragment), loaded in an iframe."),
    ], clear="frontchannel-logout-uri"),
    FieldOption("frontchannel_logout_session_required", "frontchannel_logout_session_required", Annotated[
        YesNo | None,
        typer.Option("--frontchannel-logout-session-required",
                     help="Whether the front-channel logout URI gets iss and sid (default: yes)."),
    ]),
    FieldOption("require_consent", "require_consent", Annotated[
        bool | None,
        typer.Option("--require-consent/--trusted",
                     help="Ask people before releasing their data (a third party), or not (a trusted "
                          "government portal; the default)."),
    ]),
    FieldOption("min_level", "min_level", Annotated[
        int | None, typer.Option("--min-level", metavar="N", help="Minimum assurance level for every login (1-3).")
    ]),
    FieldOption("subject_type", "subject_type", Annotated[
        str | None,
        typer.Option("--subject-type", metavar="TEXT",
                     help="public (the default: one sub for every client) or pairwise (a sub of its own sector)."),
    ]),
    FieldOption("sector_identifier_uri", "sector_identifier_uri", Annotated[
        str | None,
        typer.Option("--sector-identifier-uri", metavar="TEXT",
                     help="https URL of a JSON list of its redirect URIs; its host is the pairwise sector."),
    ], clear="sector-identifier-uri"),
    FieldOption("require_par", "require_pushed_authorization_requests", Annotated[
        bool | None,
        typer.Option("--require-par/--no-require-par",
                     help="Accept its authorization requests only when pushed to /par first."),
    ]),
    FieldOption("dpop", "dpop_bound_access_tokens", Annotated[
        bool | None,
        typer.Option("--require-dpop/--no-require-dpop", help="Issue its tokens only bound to a DPoP key."),
    ]),
    FieldOption("profile", "profile", Annotated[
        str | None,
        typer.Option("--profile", metavar="TEXT",
                     help="Hold it to a security profile: fapi2 (needs --auth-method private_key_jwt; "
                                       "turns on --require-par and --require-dpop)."),
    ], clear="profile"),
    FieldOption("name_fa", "name_fa", Annotated[
        str | None, typer.Option("--name-fa", metavar="TEXT", help="Name shown on Persian pages (default: --name).")
    ], clear="name-fa"),
    FieldOption("name_en", "name_en", Annotated[
        str | None, typer.Option("--name-en", metavar="TEXT", help="Name shown on English pages (default: --name).")
    ], clear="name-en"),
    FieldOption("logo_uri", "logo_uri", Annotated[
        str | None, typer.Option("--logo-uri", metavar="TEXT",
                                 help="https URL of its logo, shown at sign-in and consent.")
    ], clear="logo-uri"),
    FieldOption("client_uri", "client_uri", Annotated[
        str | None, typer.Option("--client-uri", metavar="TEXT", help="https URL of its home page.")
    ], clear="client-uri"),
    FieldOption("policy_uri", "policy_uri", Annotated[
        str | None, typer.Option("--policy-uri", metavar="TEXT",
                                 help="https URL of its privacy policy, linked at consent.")
    ], clear="policy-uri"),
    FieldOption("contact", "contacts", Annotated[
        list[str] | None, typer.Option("--contact", metavar="EMAIL",
                                       help="Repeatable: who answers for it at the agency (an e-mail address).")
    ], clear="contact", empty=()),
    FieldOption("tos_uri", "tos_uri", Annotated[
        str | None, typer.Option("--tos-uri", metavar="TEXT",
                                 help="https URL of its terms of service, linked at consent.")
    ], clear="tos-uri"),
)

# `update --clear` spelling -> (field, its empty value).
CLEARABLE: dict[str, tuple[str, object]] = {o.clear: (o.field, o.empty) for o in _OPTIONS if o.clear}

_F = TypeVar("_F", bound=Callable[..., None])


def client_fields(command: _F) -> _F:
    """Give `command` one option per client field, where its `fields` parameter stands.

    Typer reads the options from the wrapper's signature; the wrapper calls `command` with the
    values the operator gave as `fields` (registry keyword arguments, `--jwks-file` read into
    `jwks`), and the command's own parameters as they are.
    """
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "fields":
            params.append(param)
            continue
        params.extend(
            inspect.Parameter(o.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=o.option)
            for o in _OPTIONS
        )
    own = [p.name for p in signature.parameters.values() if p.name != "fields"]

    @functools.wraps(command)
    def wrapper(**values: Any) -> None:
        command(**{name: values[name] for name in own}, fields=_given(values))

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    )
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def _given(values: Mapping[str, Any]) -> dict[str, object]:
    """Registry keyword arguments for the options the operator actually gave."""
    fields: dict[str, object] = {}
    for option in _OPTIONS:
        value = values[option.param]
        if value is None:
            continue
        if isinstance(value, YesNo):
            value = value is YesNo.yes
        fields[option.field] = _read_jwks(value) if option.param == "jwks_file" else value
    return fields


def _read_jwks(path: Path) -> Mapping[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--jwks-file: cannot read {path}: {exc.strerror or exc}", EXIT_INVALID)
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"--jwks-file: {path} is not valid JSON: {exc}", EXIT_INVALID)
    if not isinstance(data, dict):
        fail(f'--jwks-file: {path} must hold a JWK Set object {{"keys": [...]}}', EXIT_INVALID)
    return data
