"""Log lines: one JSON object per line on stderr (or a terse text line for a terminal), for the
provider's own loggers, the access log (`idp.web.logs`) and the server's (uvicorn's) alike.

Every line carries `time` (ISO 8601, UTC), `level`, `event` and, inside a request, that request's
`request_id`, `route` (the route template, never the raw path) and `client_id` once known. A
call adds its own fields with `extra=fields(...)`; `event` is then the name given, else the
rendered message.

What is never logged (docs/operations.md, "Logs"): national codes, names, mobile numbers,
passwords, one-time codes, tokens, secrets, query strings. The callers keep to that (a test runs a
whole flow and searches the output for each of them); nothing here tries to scrub a line after
the fact, which would only hide a mistake.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]


@dataclass(slots=True)
class RequestContext:
    """What every line logged while serving one request says about it. Mutable and shared: the
    context variable is copied into the thread pool, the object is not, so a `client_id` learnt in
    a thread shows on the access log line written on the event loop."""

    request_id: str
    scope: dict[str, Any] = field(repr=False)
    client_id: str | None = None

    @property
    def route(self) -> str | None:
        """The template of the route that matched: a FastAPI route's path, a mount's prefix with
        `/{path}` (Starlette says only where it was mounted), a fast path's own; None before routing
        or if nothing matched."""
        scope = self.scope
        route = scope.get("route")
        if route is not None:
            path = getattr(route, "path", None)
            # A route of a mounted application (the admin API) is named with its mount's prefix.
            return f"{scope.get('root_path', '')}{path}" if path is not None else None
        if "app_root_path" in scope:  # inside a Mount (the static files)
            return f"{scope.get('root_path', '')}/{{path}}"
        return scope.get("idp.route")


_current: ContextVar[RequestContext | None] = ContextVar("idp_request", default=None)


def begin_request(context: RequestContext) -> None:
    _current.set(context)


def current() -> RequestContext | None:
    return _current.get()


def set_client_id(client_id: str | None) -> None:
    """The client a request is for, once known (the token endpoint, a sign-in for a client)."""
    context = _current.get()
    if context is not None and client_id and context.client_id is None:
        context.client_id = client_id[:128]


def fields(event: str, **values: object) -> dict[str, object]:
    """`extra=` for a logging call: the event's name and its fields."""
    return {"event": event, "fields": values}


_second: tuple[int, str] = (-1, "")  # the last whole second and its text: one strftime a second


def _time(record: logging.LogRecord) -> str:
    global _second
    seconds = int(record.created)
    cached = _second  # one read: another thread may replace it, never half of it
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{int(record.msecs):03d}Z"


def _payload(record: logging.LogRecord) -> dict[str, object]:
    event = getattr(record, "event", None)
    payload: dict[str, object] = {
        "time": _time(record), "level": record.levelname.lower(), "logger": record.name,
        "event": event or record.getMessage(),
    }
    if event is not None and record.args:
        payload["message"] = record.getMessage()
    context = _current.get()
    if context is not None:
        payload["request_id"] = context.request_id
        route = context.route
        if route is not None:
            payload["route"] = route
        if context.client_id is not None:
            payload["client_id"] = context.client_id
    extra = getattr(record, "fields", None)
    if extra:
        payload.update(extra)
    if record.exc_info and record.exc_info[0] is not None:
        # The exception's class and the frames, never its text: messages of database and HTTP errors
        # can quote the statement's parameters or the request.
        payload["exception"] = record.exc_info[0].__name__
        payload["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
    return payload


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(_payload(record), default=str).decode()


class TextFormatter(logging.Formatter):
    """One short line for a person at a terminal (`idp demo`): time, level, event, then key=value."""

    def format(self, record: logging.LogRecord) -> str:
        payload = _payload(record)
        head = f"{payload.pop('time')} {str(payload.pop('level')).upper():<7} {payload.pop('event')}"
        payload.pop("logger", None)
        stack = payload.pop("stack", None)
        rest = " ".join(f"{key}={value}" for key, value in payload.items())
        line = f"{head} {rest}" if rest else head
        return f"{line}\n{stack}" if stack else line


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


def dict_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` (also uvicorn's `log_config`): everything to stderr in
    `log_format`; uvicorn's own access log is off (`idp.web.logs` writes ours)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"idp": {"()": FORMATTERS[log_format]}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "idp", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers write through the root handler, in our format.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # Each back-channel POST would be a line of httpx's; the deliverer logs outcomes itself.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            # At INFO SQLAlchemy logs every statement with its parameters (national codes among
            # them): never, whatever IDP_LOG_LEVEL says.
            "sqlalchemy.engine": {"level": "WARNING"},
        },
    }


def configure(log_format: LogFormat, level: str = "INFO") -> None:
    """Send all logging to stderr in `log_format`, unless it already goes there in it (a server's
    workers and the factory both ask)."""
    root = logging.getLogger()
    if any(isinstance(h, logging.StreamHandler) and isinstance(h.formatter, FORMATTERS[log_format])
           and getattr(h, "stream", None) is sys.stderr for h in root.handlers):
        return
    logging.config.dictConfig(dict_config(log_format, level))
