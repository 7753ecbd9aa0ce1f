"""Reading a companies-registry export in JSON or JSON Lines, on the standard library's `json`.

JSON: an array of entity objects, or `{"entities": [...]}`; each object has `national_id`, `name`,
`type`, `status`, optionally `min_level`, and `officers`: a list of `{"national_code", "role",
"powers", "valid_from", "valid_until"}` (powers a list of strings or one string as in CSV).
JSON Lines: one such entity object per line.

Problems are reported on the line where their entity starts, so each element of the entity list is
decoded on its own (`JSONDecoder.raw_decode`); only the brackets and commas of the list (and of the
wrapping object) are read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import NoReturn

from legal_entities.errors import EntitiesError
from legal_entities.models import RegistryEntity, RegistryOfficer
from legal_entities.registry_fields import Errors, json_type, read_head, read_officer

_ENTITY_KEYS = frozenset({"national_id", "name", "type", "status", "min_level", "officers"})
_OFFICER_KEYS = frozenset({"national_code", "role", "powers", "valid_from", "valid_until"})
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


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
_PLAIN = json.JSONDecoder()  # for values that are not ours to judge, and to step over a refused one


def read_json(text: str, errors: Errors) -> list[RegistryEntity]:
    """The valid entities of a JSON export; every problem (up to where the text stops being JSON) goes
    to `errors`."""
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


_EXPECTED_LIST = 'expected a list of entities or an object with "entities"'


def _json_elements(text: str) -> Iterator[tuple[int, object]]:
    """The elements of the entity list with the line each starts on, decoded one at a time so that
    messages can point at the entity; raise `json.JSONDecodeError` where the text stops being JSON."""
    c = _Cursor(text)
    if c.take("["):
        yield from _array(c)
    elif c.take("{"):
        found = False
        while not c.take("}"):
            if not c.at('"'):
                c.fail("expected a key")
            key = c.decode(_PLAIN)
            if not c.take(":"):
                c.fail("expected ':'")
            if key == "entities" and not found and c.take("["):
                found = True
                yield from _array(c)
            else:
                c.decode(_PLAIN)  # another member, e.g. the export's date: not ours to judge
                if key == "entities":
                    c.fail('"entities" must be a list given once')
            if not c.take(",") and not c.at("}"):
                c.fail("expected ',' or '}'")
        if not found:
            c.fail(_EXPECTED_LIST)
    else:
        c.fail(_EXPECTED_LIST)
    if not c.at_end():
        c.fail("expected the end of the file")


def _array(c: _Cursor) -> Iterator[tuple[int, object]]:
    """Yield the elements of the array whose `[` was just taken, up to and including its `]`."""
    if c.take("]"):
        return
    while True:
        line = c.line()
        try:
            value = c.decode(_DECODER)
        except _DuplicateKey as exc:
            value = exc
            c.decode(_PLAIN)
        yield line, value
        if c.take("]"):
            return
        if not c.take(","):
            c.fail("expected ',' or ']'")


class _Cursor:
    """A position in JSON text between values. Only whitespace and the punctuation of the entity list
    are read here; every value (keys included) is decoded by the standard library."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line, self._counted = 1, 0

    def at(self, char: str) -> bool:
        """True if the next character after whitespace is `char`."""
        self._pos = _JSON_SPACE.match(self._text, self._pos).end()  # type: ignore[union-attr]
        return self._text.startswith(char, self._pos)

    def take(self, char: str) -> bool:
        """Step over `char` if it comes next (after whitespace)."""
        if not self.at(char):
            return False
        self._pos += 1
        return True

    def at_end(self) -> bool:
        return self.at("") and self._pos == len(self._text)

    def decode(self, decoder: json.JSONDecoder) -> object:
        self.at("")
        value, self._pos = decoder.raw_decode(self._text, self._pos)
        return value

    def line(self) -> int:
        """The line of the next value (counted on from the last time, so reading stays linear)."""
        self.at("")
        self._line += self._text.count("\n", self._counted, self._pos)
        self._counted = self._pos
        return self._line

    def fail(self, message: str) -> NoReturn:
        raise json.JSONDecodeError(message, self._text, self._pos)


def read_jsonl(lines: Iterable[str], errors: Errors) -> list[RegistryEntity]:
    """The valid entities of a JSON Lines export; every problem goes to `errors`, by line."""
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


def _first(entity: RegistryEntity, seen: dict[str, int], errors: Errors) -> bool:
    """True unless another entity of the file has the same national ID (which is then reported)."""
    if entity.national_id in seen:
        errors.add(entity.line, f"national_id {entity.national_id} is also on line {seen[entity.national_id]}")
        return False
    seen[entity.national_id] = entity.line
    return True


def _json_entity(value: object, line: int, errors: Errors) -> RegistryEntity | None:
    if isinstance(value, _DuplicateKey):
        errors.add(line, f"key {value.args[0]!r} given twice")
        return None
    if not isinstance(value, dict):
        errors.add(line, f"expected an entity object, got {json_type(value)}")
        return None
    problems: list[str] = []
    unknown = sorted(set(value) - _ENTITY_KEYS)
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)}; expected {', '.join(sorted(_ENTITY_KEYS))}")
    head, head_problems = read_head(value.get("national_id"), value.get("name"), value.get("type"),
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
            officer, officer_problems = read_officer(
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

