"""Turning a Starlette request into Authlib's `OAuth2Request` (the framework adapter Authlib lacks)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.requests import Request

from idp.errors import InvalidRequestError
from idp.oauth.dpop import Proof
from idp.web import input_limits
from idp.web.input_limits import MAX_BODY, MAX_PARAMETERS

# Parameters whose values are protocol keywords; Authlib echoes some of them in error_description,
# which RFC 6749 restricts to printable ASCII without '"' and '\\'.
_KEYWORD_PARAMS = frozenset({
    "response_type", "grant_type", "token_type_hint", "code_challenge_method", "response_mode", "prompt",
    "client_assertion_type",
})


def _is_keyword(value: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in value)


class PairsPayload(OAuth2Payload):
    """Parameters as received, keeping repeats so Authlib can reject duplicated parameters."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class HttpRequest(OAuth2Request):
    # The request's DPoP proof once checked (`idp.oauth.dpop.Proof`, RFC 9449), for the grants.
    dpop: Proof | None = None

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str],
        query: Sequence[tuple[str, str]], form: Sequence[tuple[str, str]], client_ip: str = "unknown",
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.client_ip = client_ip
        self.payload = PairsPayload(form if method == "POST" else query)
        self._args = dict(query)
        self._form = dict(form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def parse_pairs(raw: bytes | str) -> list[tuple[str, str]]:
    """Url-encoded parameters, well-formed but not yet held to `idp.web.input_limits` (see `read_form`)."""
    if len(raw) > MAX_BODY:
        raise InvalidRequestError("Request too large.")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError("Parameters must be UTF-8.") from None
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)
    except ValueError:
        raise InvalidRequestError("Too many parameters.") from None
    for key, value in pairs:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key + value):
            raise InvalidRequestError("Parameters must not contain control characters.")
        if key in _KEYWORD_PARAMS and not _is_keyword(value):
            raise InvalidRequestError(f"The {key} parameter has characters that are not allowed.")
    return pairs


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The url-encoded body of a POST, every parameter within its limit."""
    return input_limits.check(await read_pairs(request))


async def read_pairs(request: Request) -> list[tuple[str, str]]:
    """The url-encoded body of a POST; anything else is `invalid_request` (RFC 6749 §3.2)."""
    if request.method != "POST":
        return []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("Send parameters as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise InvalidRequestError("Request body too large.")
    return parse_pairs(body)


async def oauth_request(request: Request, issuer: str, client_ip: str) -> HttpRequest:
    # The URI Authlib sees is built on the configured issuer, not the Host header: TLS usually ends
    # at a load balancer, and a forged Host must not change what the server believes its URL is.
    query = input_limits.check(parse_pairs(request.scope.get("query_string", b"")))
    form = await read_form(request)
    return HttpRequest(request.method, issuer + request.url.path, request.headers, query, form, client_ip)
