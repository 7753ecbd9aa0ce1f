"""Reading a companies-registry export: every entity with its complete list of officers.

The import replaces each listed entity's registry officers, so a file is checked in full before
anything is written: one bad row would otherwise end mandates that the rest of the file confirms.
Every problem is reported with the line it is on, so the registry can fix the export in one round.

This module picks the reader for the format: `registry_csv` (one row per officer) or
`registry_json` (JSON, JSON Lines); the fields are checked by `registry_fields`.
"""

from __future__ import annotations

import io
from enum import StrEnum
from pathlib import Path
from typing import IO

from legal_entities.models import RegistryEntity
from legal_entities.registry_csv import CSV_COLUMNS, CSV_REQUIRED, read_csv
from legal_entities.registry_fields import (
    MAX_ERRORS,
    REGISTRY_DEFAULT_POWERS,
    Errors,
    InvalidField,
    RegistryFileError,
    TooManyErrors,
    parse_day,
    parse_powers,
    parse_role,
)
from legal_entities.registry_json import read_json, read_jsonl

__all__ = [
    "CSV_COLUMNS",
    "CSV_REQUIRED",
    "MAX_ERRORS",
    "REGISTRY_DEFAULT_POWERS",
    "InvalidField",
    "RegistryFileError",
    "RegistryFormat",
    "format_for",
    "parse_day",
    "parse_powers",
    "parse_registry",
    "parse_role",
    "read_registry_file",
]


class RegistryFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


def format_for(path: str | Path) -> RegistryFormat:
    """The format a file name suggests: `.json`, `.jsonl`/`.ndjson`, otherwise CSV."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return RegistryFormat.json
    if suffix in (".jsonl", ".ndjson"):
        return RegistryFormat.jsonl
    return RegistryFormat.csv


def read_registry_file(path: str | Path, format: RegistryFormat | str | None = None) -> list[RegistryEntity]:
    """Every entity of the export at `path`, checked; raise `RegistryFileError` listing every problem."""
    fmt = RegistryFormat(format) if format is not None else format_for(path)
    with open(path, "rb") as raw:
        if fmt is RegistryFormat.json:
            return parse_registry(_decode(raw.read()), fmt)
        # utf-8-sig: spreadsheets save CSV with a byte-order mark; newline="" lets csv see quoted newlines.
        return parse_registry(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), fmt)


def parse_registry(source: str | IO[str], format: RegistryFormat | str) -> list[RegistryEntity]:
    """Every entity of an export given as text or a text stream; raise `RegistryFileError`."""
    fmt = RegistryFormat(format)
    if isinstance(source, str):
        source = io.StringIO(source, newline="")
    errors = Errors()
    entities: list[RegistryEntity] = []
    try:
        if fmt is RegistryFormat.csv:
            entities = read_csv(source, errors)
        elif fmt is RegistryFormat.json:
            entities = read_json(source.read(), errors)
        else:
            entities = read_jsonl(source, errors)
        if not entities and not errors.items:
            errors.add(1, "the file lists no entities")
    except TooManyErrors:
        raise RegistryFileError(errors.items, truncated=True) from None
    if errors.items:
        raise RegistryFileError(errors.items)
    return entities


def _decode(data: bytes) -> str:
    # The whole text is needed to read JSON; a bad byte is reported on its line.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryFileError([(data.count(b"\n", 0, exc.start) + 1, "the file is not UTF-8 text")]) from None
