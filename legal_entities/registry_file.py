"""Reading a companies-registry export: every entity with its complete list of officers.

The import replaces each listed entity's registry officers, so a file is checked in full before
anything is written: one bad row would otherwise end mandates that the rest of the file confirms.
Every problem is reported with the line it is on, so the registry can fix the export in one round.

Formats:
- CSV, one row per officer, with the header `CSV_COLUMNS` (any order; `status`, `min_level`,
  `powers`, `valid_from` and `valid_until` may be left out). An entity without officers is one row
  with the officer columns empty. Powers are separated by spaces or `;`.
- JSON: an array of entity objects, or `{"entities": [...]}`; each object has `national_id`, `name`,
  `type`, `status`, optionally `min_level`, and `officers`: a list of `{"national_code", "role",
  "powers", "valid_from", "valid_until"}` (powers a list of strings or one string as in CSV).
- JSON Lines: one such entity object per line.

Dates are year/month/day, Jalali when the year is below 1700 (1403/01/01) and Gregorian otherwise
(2024-03-20). A mandate starts at midnight in Tehran on its `valid_from` day and `valid_until` is
its last day: it ends at midnight in Tehran at the end of that day.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import IO, NoReturn, TypeVar

from legal_entities.days import mandate_end, mandate_start
from legal_entities.errors import EntitiesError
from legal_entities.models import ALL_POWERS, DELEGATE, EntityStatus, RegistryEntity, RegistryOfficer
from legal_entities.national_id import InvalidNationalId, parse_national_id
from legal_entities.rules import MAX_POWER_LENGTH, MAX_ROLE_LENGTH, is_power, is_role
from levels.national_code import InvalidNationalCode, normalize_digits, parse_national_code
from levels.registration import InvalidDate, parse_calendar_date

# Mandates are granted and read in Iran: a day of validity is a day on Tehran's clock.

CSV_COLUMNS = (
    "national_id", "name", "type", "status", "min_level",
    "officer_national_code", "role", "powers", "valid_from", "valid_until",
)
# Without these columns a file would silently list every entity without officers, ending them all.
CSV_REQUIRED = frozenset({"national_id", "name", "type", "officer_national_code", "role"})
_OFFICER_COLUMNS = ("officer_national_code", "role", "powers", "valid_from", "valid_until")
_ENTITY_KEYS = frozenset({"national_id", "name", "type", "status", "min_level", "officers"})
_OFFICER_KEYS = frozenset({"national_code", "role", "powers", "valid_from", "valid_until"})

# Officers in these roles are registered as representing the company in full (acting for it and
# appointing others), so exports leave their powers empty rather than list every service. For any
# other role empty powers are refused rather than guessed: a guess could only grant too much.
REGISTRY_DEFAULT_POWERS: dict[str, frozenset[str]] = {
    role: frozenset({ALL_POWERS, DELEGATE}) for role in ("ceo", "managing_director", "chair", "signatory")
}

MAX_ERRORS = 100
MAX_NAME_LENGTH = 300
MAX_TYPE_LENGTH = 64
_POWER_SEPARATORS = re.compile(r"[\s;]+")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
# Mandates outside these years are typing mistakes (and the year 9999 would overflow the end of its last day).
FIRST_YEAR, LAST_YEAR = 1900, 2999

_T = TypeVar("_T")


class RegistryFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


class RegistryFileError(EntitiesError, ValueError):
    """The file cannot be imported; `errors` lists (line, message) for every problem found, in order.

    `truncated` is true when reading stopped at a problem beyond the first `MAX_ERRORS`.
    """

    def __init__(self, errors: list[tuple[int, str]], *, truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        first = f"line {errors[0][0]}: {errors[0][1]}" if errors else "no errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}")


class _TooManyErrors(EntitiesError):
    pass


class _Errors:
    """Collects problems; stops the reading once there are too many to be worth listing."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, message: str) -> None:
        if len(self.items) >= MAX_ERRORS:
            raise _TooManyErrors
        self.items.append((line, message))


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
    errors = _Errors()
    entities: list[RegistryEntity] = []
    try:
        if fmt is RegistryFormat.csv:
            entities = _read_csv(source, errors)
        elif fmt is RegistryFormat.json:
            entities = _read_json(source.read(), errors)
        else:
            entities = _read_jsonl(source, errors)
        if not entities and not errors.items:
            errors.add(1, "the file lists no entities")
    except _TooManyErrors:
        raise RegistryFileError(errors.items, truncated=True) from None
    if errors.items:
        raise RegistryFileError(errors.items)
    return entities


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryFileError([(data.count(b"\n", 0, exc.start) + 1, "the file is not UTF-8 text")]) from None


# Field checks: each returns the canonical value or raises InvalidField ---------------------------


class InvalidField(EntitiesError, ValueError):
    """One field's value is not acceptable; the message names the field."""


def parse_day(text: str) -> date:
    """A date as the registry file and the CLI accept it; raise `InvalidDate` with a message."""
    day = parse_calendar_date(text)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidDate(f"{day.isoformat()} is not a plausible date for a mandate.")
    return day


def parse_powers(value: object, field: str = "powers") -> frozenset[str]:
    """Powers written as one string separated by spaces or `;`, or (JSON) a list of strings."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        tokens = [t for t in _POWER_SEPARATORS.split(value.strip()) if t]
    elif isinstance(value, list):
        if not all(isinstance(t, str) for t in value):
            raise InvalidField(f"{field}: expected a list of strings")
        tokens = [t.strip() for t in value if t.strip()]
    else:
        raise InvalidField(f"{field}: expected a string or a list of strings")
    bad = [t for t in tokens if not is_power(t)]
    if bad:
        raise InvalidField(
            f"{field}: {bad[0]!r} is not a power (a service scope of at most {MAX_POWER_LENGTH} characters"
            f" without spaces, quotes or backslashes, {ALL_POWERS!r} or {DELEGATE!r})"
        )
    return frozenset(tokens)


def parse_role(text: str, field: str = "role") -> str:
    """A role as stored: a lowercase identifier (the registry's role codes are)."""
    role = text.strip()
    if not role:
        raise InvalidField(f"{field}: required")
    if not is_role(role):
        raise InvalidField(
            f"{field}: {role[:80]!r} is not a role: lowercase letters, digits and _, starting with a letter,"
            f" at most {MAX_ROLE_LENGTH} characters"
        )
    return role


def _text(value: object, field: str, *, required: bool = True) -> str:
    """A string field; numbers are accepted for codes (exports sometimes write them unquoted)."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidField(f"{field}: expected text, got {_json_type(value)}")
    if required and not text:
        raise InvalidField(f"{field}: required")
    return text


def _national_id(value: object) -> str:
    try:
        return parse_national_id(_text(value, "national_id"))
    except InvalidNationalId as exc:
        raise InvalidField(f"national_id: {exc}") from None


def _national_code(value: object, field: str) -> str:
    try:
        return parse_national_code(_text(value, field))
    except InvalidNationalCode as exc:
        raise InvalidField(f"{field}: {exc}") from None


def _limited(value: object, field: str, limit: int) -> str:
    text = _text(value, field)
    if len(text) > limit:
        raise InvalidField(f"{field}: at most {limit} characters")
    return text


def _status(value: object) -> EntityStatus:
    text = _text(value, "status", required=False)
    if not text:
        return EntityStatus.ACTIVE
    try:
        return EntityStatus(text)
    except ValueError:
        allowed = ", ".join(s.value for s in EntityStatus)
        raise InvalidField(f"status: {text[:40]!r} is not one of {allowed}") from None


def _min_level(value: object) -> int | None:
    if isinstance(value, bool):
        raise InvalidField("min_level: expected 1, 2 or 3")
    text = "" if value is None else normalize_digits(str(value))
    if not text:
        return None
    if text not in ("1", "2", "3"):
        raise InvalidField("min_level: expected 1, 2 or 3")
    return int(text)


def _day(value: object, field: str) -> date | None:
    text = _text(value, field, required=False)
    if not text:
        return None
    try:
        return parse_day(text)
    except InvalidDate as exc:
        raise InvalidField(f"{field}: {exc}") from None


def _collect(problems: list[str], check: Callable[[], _T]) -> _T | None:
    """The result of `check`, or None with its message added to `problems`: every field of a row is
    checked, so that one round of fixes is enough."""
    try:
        return check()
    except InvalidField as exc:
        problems.append(str(exc))
        return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


@dataclass(frozen=True, slots=True)
class _Head:
    """The entity columns of a row, checked."""

    national_id: str
    name: str
    type: str
    status: EntityStatus
    min_level: int | None


def _officer(
    national_code: object, role: object, powers: object, valid_from: object, valid_until: object,
    *, prefix: str, code_field: str,
) -> tuple[RegistryOfficer | None, list[str]]:
    """One officer, or None and every message about it. `prefix` names the officer in messages."""
    problems: list[str] = []
    code = _collect(problems, lambda: _national_code(national_code, f"{prefix}{code_field}"))
    role_text = _collect(problems, lambda: parse_role(_text(role, f"{prefix}role"), f"{prefix}role"))
    power_set = _collect(problems, lambda: parse_powers(powers, f"{prefix}powers"))
    start = _collect(problems, lambda: _day(valid_from, f"{prefix}valid_from"))
    end = _collect(problems, lambda: _day(valid_until, f"{prefix}valid_until"))
    if role_text is not None and power_set is not None and not power_set:
        power_set = REGISTRY_DEFAULT_POWERS.get(role_text)
        if power_set is None:
            label = f"{prefix.rstrip('.')}: " if prefix else ""
            problems.append(f"{label}powers required for role {role_text}")
    if start is not None and end is not None and end < start:
        problems.append(f"{prefix}valid_until ({end.isoformat()}) is before valid_from ({start.isoformat()})")
    if problems or code is None or role_text is None or power_set is None:
        return None, problems
    officer = RegistryOfficer(
        national_code=code, role=role_text, powers=power_set,
        valid_from=mandate_start(start) if start else None, valid_until=mandate_end(end) if end else None,
    )
    return officer, []


# CSV -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _CsvEntity:
    head: _Head
    line: int
    officers: dict[tuple[str, str], tuple[int, RegistryOfficer]]
    bare_line: int | None  # a row without an officer


def _read_csv(text: IO[str], errors: _Errors) -> list[RegistryEntity]:
    reader = csv.reader(text)
    try:
        header_row = next(reader, None)
    except UnicodeDecodeError:
        errors.add(1, "the file is not UTF-8 text")
        return []
    if header_row is None:
        return []
    header = [name.strip() for name in header_row]
    problems = _check_header(header)
    if problems:
        for problem in problems:
            errors.add(1, problem)
        return []
    entities: dict[str, _CsvEntity] = {}
    end = reader.line_num
    try:
        for row in reader:
            line, end = end + 1, reader.line_num  # a quoted field may span lines: report where the row starts
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                errors.add(line, f"{len(row)} fields, the header has {len(header)}")
                continue
            _csv_row(dict(zip(header, row, strict=True)), line, entities, errors)
    except UnicodeDecodeError:
        # Text is decoded a block at a time, so the bad bytes are somewhere after the last row read.
        errors.add(end + 1, "the file is not UTF-8 text from about this line")
    return [
        RegistryEntity(
            national_id=e.head.national_id, name=e.head.name, type=e.head.type, status=e.head.status,
            min_level=e.head.min_level, officers=tuple(o for _, o in e.officers.values()), line=e.line,
        )
        for e in entities.values()
    ]


def _check_header(header: list[str]) -> list[str]:
    problems = []
    missing = [c for c in CSV_COLUMNS if c in CSV_REQUIRED and c not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(map(repr, unknown))}; expected {','.join(CSV_COLUMNS)}")
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        problems.append(f"column(s) given twice: {', '.join(twice)}")
    return problems


def _csv_row(fields: Mapping[str, str], line: int, entities: dict[str, _CsvEntity], errors: _Errors) -> None:
    head, problems = _head(fields.get("national_id"), fields.get("name"), fields.get("type"),
                           fields.get("status"), fields.get("min_level"))
    has_officer = any(fields.get(c, "").strip() for c in _OFFICER_COLUMNS)
    officer: RegistryOfficer | None = None
    if has_officer:
        officer, officer_problems = _officer(
            fields.get("officer_national_code"), fields.get("role"), fields.get("powers"),
            fields.get("valid_from"), fields.get("valid_until"), prefix="", code_field="officer_national_code",
        )
        problems += officer_problems
    for problem in problems:
        errors.add(line, problem)
    if head is None:
        return
    known = entities.get(head.national_id)
    if known is None:
        known = entities[head.national_id] = _CsvEntity(head, line, {}, None)
    elif known.head != head:
        differing = [f for f in ("name", "type", "status", "min_level") if getattr(known.head, f) != getattr(head, f)]
        verb = "differs" if len(differing) == 1 else "differ"
        errors.add(line, f"{', '.join(differing)} {verb} from line {known.line} for entity {head.national_id}")
    if not has_officer:
        if known.officers:
            first = min(line for line, _ in known.officers.values())
            errors.add(line, f"a row without an officer for entity {head.national_id}, which has officers"
                             f" (line {first})")
        known.bare_line = known.bare_line or line
        return
    if known.bare_line is not None:
        errors.add(line, f"entity {head.national_id} was listed without officers on line {known.bare_line}")
    if officer is None:
        return
    key = (officer.national_code, officer.role)
    if key in known.officers:
        errors.add(line, f"officer {officer.national_code} is listed as {officer.role} twice for entity"
                         f" {head.national_id} (also line {known.officers[key][0]})")
        return
    known.officers[key] = (line, officer)


def _head(
    national_id: object, name: object, type_: object, status: object, min_level: object
) -> tuple[_Head | None, list[str]]:
    """The entity's own fields, or None and every message about them."""
    problems: list[str] = []
    head = _Head(
        national_id=_collect(problems, lambda: _national_id(national_id)) or "",
        name=_collect(problems, lambda: _limited(name, "name", MAX_NAME_LENGTH)) or "",
        type=_collect(problems, lambda: _limited(type_, "type", MAX_TYPE_LENGTH)) or "",
        status=_collect(problems, lambda: _status(status)) or EntityStatus.ACTIVE,
        min_level=_collect(problems, lambda: _min_level(min_level)),
    )
    return (None, problems) if problems else (head, [])


# JSON and JSON Lines -------------------------------------------------------------------------------


class _DuplicateKey(EntitiesError, ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # A key given twice would otherwise keep only its last value, e.g. an empty second "officers".
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def _read_json(text: str, errors: _Errors) -> list[RegistryEntity]:
    seen: dict[str, int] = {}
    entities: list[RegistryEntity] = []
    try:
        for line, value in _json_elements(text):
            entity = _json_entity(value, line, errors)
            if entity is not None and _first(entity, seen, errors):
                entities.append(entity)
    except json.JSONDecodeError as exc:
        errors.add(exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})")
    return entities


def _json_elements(text: str) -> Iterator[tuple[int, object]]:
    """The elements of the entity list with the line each starts on, decoded one at a time so that
    messages can point at the entity."""
    pos = _skip(text, 0)
    if text.startswith("{", pos):
        pos = _skip(text, pos + 1)
        found = False
        while not text.startswith("}", pos):
            if not text.startswith('"', pos):
                _fail(text, pos, "a key")
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                _fail(text, pos, "':'")
            pos = _skip(text, pos + 1)
            if key == "entities" and not found and text.startswith("[", pos):
                found = True
                pos = yield from _array(text, pos)
            else:
                pos = _skip_value(text, pos)  # another member, e.g. the export's date: not ours to judge
                if key == "entities":
                    raise json.JSONDecodeError('"entities" must be a list given once', text, pos)
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
            elif not text.startswith("}", pos):
                _fail(text, pos, "',' or '}'")
        if not found:
            raise json.JSONDecodeError('expected a list of entities or an object with "entities"', text, pos)
        pos = _skip(text, pos + 1)
    elif text.startswith("[", pos):
        pos = yield from _array(text, pos)
    else:
        raise json.JSONDecodeError('expected a list of entities or an object with "entities"', text, pos)
    pos = _skip(text, pos)
    if pos < len(text):
        _fail(text, pos, "the end of the file")


def _array(text: str, pos: int) -> Iterator[tuple[int, object]]:
    """Yield the elements of the array starting at `pos` (its `[`); return the position after it."""
    pos = _skip(text, pos + 1)
    line, counted = 1, 0
    if text.startswith("]", pos):
        return pos + 1
    while True:
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except _DuplicateKey as exc:
            value, end = _DuplicateKey(exc.args[0]), _skip_value(text, pos)
        yield line, value
        pos = _skip(text, end)
        if text.startswith("]", pos):
            return pos + 1
        if not text.startswith(",", pos):
            _fail(text, pos, "',' or ']'")
        pos = _skip(text, pos + 1)


def _skip_value(text: str, pos: int) -> int:
    """The end of the JSON value at `pos`, decoded without the duplicate-key check."""
    return json.JSONDecoder().raw_decode(text, pos)[1]


def _skip(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)
    return match.end() if match else pos


def _fail(text: str, pos: int, expected: str) -> NoReturn:
    raise json.JSONDecodeError(f"expected {expected}", text, pos)


def _read_jsonl(lines: Iterable[str], errors: _Errors) -> list[RegistryEntity]:
    seen: dict[str, int] = {}
    entities: list[RegistryEntity] = []
    number = 0
    try:
        for number, line in enumerate(lines, start=1):  # noqa: B007 - read after the loop on a decoding error
            if not line.strip():
                continue
            try:
                value: object = _DECODER.decode(line)
            except json.JSONDecodeError as exc:
                errors.add(number, f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            except _DuplicateKey as exc:
                value = exc
            entity = _json_entity(value, number, errors)
            if entity is not None and _first(entity, seen, errors):
                entities.append(entity)
    except UnicodeDecodeError:
        errors.add(number + 1, "the file is not UTF-8 text from about this line")
    return entities


def _first(entity: RegistryEntity, seen: dict[str, int], errors: _Errors) -> bool:
    """True unless another entity of the file has the same national ID (which is then reported)."""
    if entity.national_id in seen:
        errors.add(entity.line, f"national_id {entity.national_id} is also on line {seen[entity.national_id]}")
        return False
    seen[entity.national_id] = entity.line
    return True


def _json_entity(value: object, line: int, errors: _Errors) -> RegistryEntity | None:
    if isinstance(value, _DuplicateKey):
        errors.add(line, f"key {value.args[0]!r} given twice")
        return None
    if not isinstance(value, dict):
        errors.add(line, f"expected an entity object, got {_json_type(value)}")
        return None
    problems: list[str] = []
    unknown = sorted(set(value) - _ENTITY_KEYS)
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)}; expected {', '.join(sorted(_ENTITY_KEYS))}")
    head, head_problems = _head(value.get("national_id"), value.get("name"), value.get("type"),
                                value.get("status"), value.get("min_level"))
    problems += head_problems
    officers: dict[tuple[str, str], RegistryOfficer] = {}
    raw_officers = value.get("officers")
    if "officers" not in value:
        problems.append("officers: required (an empty list if the entity has none)")
    elif not isinstance(raw_officers, list):
        problems.append("officers: expected a list")
    else:
        for index, raw in enumerate(raw_officers):
            prefix = f"officers[{index}]."
            if not isinstance(raw, dict):
                problems.append(f"officers[{index}]: expected an object")
                continue
            unknown = sorted(set(raw) - _OFFICER_KEYS)
            if unknown:
                problems.append(f"officers[{index}]: unknown key(s): {', '.join(unknown)};"
                                f" expected {', '.join(sorted(_OFFICER_KEYS))}")
            officer, officer_problems = _officer(
                raw.get("national_code"), raw.get("role"), raw.get("powers"), raw.get("valid_from"),
                raw.get("valid_until"), prefix=prefix, code_field="national_code",
            )
            problems += officer_problems
            if officer is None:
                continue
            key = (officer.national_code, officer.role)
            if key in officers:
                problems.append(f"officers[{index}]: officer {officer.national_code} is listed as"
                                f" {officer.role} twice")
                continue
            officers[key] = officer
    for problem in problems:
        errors.add(line, problem)
    if problems or head is None:
        return None
    return RegistryEntity(
        national_id=head.national_id, name=head.name, type=head.type, status=head.status,
        min_level=head.min_level, officers=tuple(officers.values()), line=line,
    )
