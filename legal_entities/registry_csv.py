"""Reading a companies-registry export in CSV: one row per officer, on the standard library's `csv`.

The header is `CSV_COLUMNS` in any order; `status`, `min_level`, `powers`, `valid_from` and
`valid_until` may be left out. An entity without officers is one row with the officer columns empty.
Powers are separated by spaces or `;`. Problems are reported on the line where their row starts.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from legal_entities.models import RegistryEntity, RegistryOfficer
from legal_entities.registry_fields import Errors, Head, read_head, read_officer

CSV_COLUMNS = (
    "national_id", "name", "type", "status", "min_level",
    "officer_national_code", "role", "powers", "valid_from", "valid_until",
)
# Without these columns a file would silently list every entity without officers, ending them all.
CSV_REQUIRED = frozenset({"national_id", "name", "type", "officer_national_code", "role"})
_OFFICER_COLUMNS = ("officer_national_code", "role", "powers", "valid_from", "valid_until")


@dataclass(slots=True)
class _CsvEntity:
    head: Head
    line: int
    officers: dict[tuple[str, str], tuple[int, RegistryOfficer]]
    bare_line: int | None  # a row without an officer


def read_csv(text: IO[str], errors: Errors) -> list[RegistryEntity]:
    """The valid entities of a CSV export; every problem goes to `errors`, on the line its row starts."""
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


def _csv_row(fields: Mapping[str, str], line: int, entities: dict[str, _CsvEntity], errors: Errors) -> None:
    head, problems = read_head(fields.get("national_id"), fields.get("name"), fields.get("type"),
                               fields.get("status"), fields.get("min_level"))
    has_officer = any(fields.get(c, "").strip() for c in _OFFICER_COLUMNS)
    officer: RegistryOfficer | None = None
    if has_officer:
        officer, officer_problems = read_officer(
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
