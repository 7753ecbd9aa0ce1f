"""The bulk import of existing accounts from a legacy system: rows of a CSV or JSON-lines file, checked,
merged over what is stored and written in batches.

Running an import again only applies what changed. Passwords are never imported (a file with a
password column is refused whole): imported people set one at their first sign-in with a one-time
code sent to their mobile. Bad rows are reported by line number and skipped.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from levels.errors import LevelsError
from levels.iranian_input import (
    InvalidMobile,
    InvalidNationalCode,
    normalize_digits,
    normalize_mobile,
    normalize_name,
    parse_national_code,
)
from levels.people import Person, new_person
from levels.registration import InvalidBirthdate, parse_birthdate

IMPORT_REQUIRED = ("national_code", "birth_date", "mobile", "proofing_tier")
IMPORT_OPTIONAL = ("given_name", "family_name")
# The width of the name columns of the people table.
MAX_NAME_LENGTH = 100
# Rejected rows kept for the summary; the rest are only counted (and reported as they happen).
MAX_LISTED_ERRORS = 1000

_REQUIRED_SET = frozenset(IMPORT_REQUIRED)
_KNOWN_SET = frozenset(IMPORT_REQUIRED + IMPORT_OPTIONAL)
_SECRET_FIELD = re.compile("pass|pwd|hash|secret")


class InvalidImportRow(LevelsError, ValueError):
    """One row of an import file cannot be imported; the message says which field and why.

    Raised (rather than reported for a row) when the whole file is refused, with the line number.
    """


# Rows ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One existing account to import. Empty optional fields are None: they never clear stored values."""

    national_code: str
    birthdate: date | None
    mobile: str | None
    proofing_tier: int
    given_name: str | None
    family_name: str | None


def is_secret_field(name: str) -> bool:
    """True for a column that looks like it holds a password or its hash: those are never imported."""
    return _SECRET_FIELD.search(name.lower()) is not None


def check_import_fields(names: list[str]) -> None:
    """Raise `InvalidImportRow` unless `names` are exactly the required import fields plus optional ones."""
    secret = [n for n in names if is_secret_field(n)]
    if secret:
        raise InvalidImportRow(
            f"column {secret[0]!r}: passwords are never imported. Remove the column; imported people"
            " set a password at their first sign-in with a one-time code sent to their mobile."
        )
    missing = [n for n in IMPORT_REQUIRED if n not in names]
    if missing:
        raise InvalidImportRow(f"missing column(s): {', '.join(missing)}")
    unknown = [n for n in names if n not in IMPORT_REQUIRED + IMPORT_OPTIONAL]
    if unknown:
        raise InvalidImportRow(
            f"unknown column(s): {', '.join(unknown)}; expected {', '.join(IMPORT_REQUIRED + IMPORT_OPTIONAL)}"
        )
    if len(set(names)) != len(names):
        raise InvalidImportRow("a column appears twice")


def parse_import_row(fields: Mapping[str, object], *, today: date) -> ImportRow:
    """The import row `fields` (strings from CSV, or JSON values), checked; raise `InvalidImportRow`."""
    if not _REQUIRED_SET <= fields.keys() <= _KNOWN_SET:
        check_import_fields(list(fields))
    try:
        code = parse_national_code(_text(fields, "national_code"))
    except InvalidNationalCode as exc:
        raise InvalidImportRow(f"national_code: {exc}") from None
    birth = _text(fields, "birth_date")
    try:
        birthdate = parse_birthdate(birth, today=today) if birth else None
    except InvalidBirthdate as exc:
        raise InvalidImportRow(f"birth_date: {exc}") from None
    mobile_text = _text(fields, "mobile")
    try:
        mobile = normalize_mobile(mobile_text) if mobile_text else None
    except InvalidMobile as exc:
        raise InvalidImportRow(f"mobile: {exc}") from None
    tier_text = normalize_digits(_text(fields, "proofing_tier")) or "1"
    if tier_text not in ("1", "2", "3"):
        raise InvalidImportRow("proofing_tier: must be 1, 2 or 3")
    names = [normalize_name(_text(fields, n)) or None for n in IMPORT_OPTIONAL]
    if any(n is not None and len(n) > MAX_NAME_LENGTH for n in names):
        raise InvalidImportRow(f"names are at most {MAX_NAME_LENGTH} characters")
    return ImportRow(code, birthdate, mobile, int(tier_text), names[0], names[1])


def _text(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    if type(value) is str:
        return value.strip()  # every CSV field: skip the checks below
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidImportRow(f"{name}: expected text, got {type(value).__name__}")
    return str(value).strip()


# Reading files -------------------------------------------------------------------------------------

# A line number and the row's fields, or why the line is not a row.
Record = tuple[int, Mapping[str, object] | InvalidImportRow]


def csv_records(text: Iterable[str]) -> Iterator[Record]:
    """The rows of a CSV file whose first line names the fields.

    Raises `InvalidImportRow` (saying "line 1") for a header that is not the import fields, before any row.
    """
    reader = csv.reader(text)
    header = [name.strip() for name in next(reader, [])]
    try:
        check_import_fields(header)
    except InvalidImportRow as exc:
        raise InvalidImportRow(f"line 1: {exc}") from None
    for row in reader:
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            yield reader.line_num, InvalidImportRow(f"{len(row)} fields, the header has {len(header)}")
        else:
            yield reader.line_num, dict(zip(header, row, strict=True))


def jsonl_records(text: Iterable[str]) -> Iterator[Record]:
    """The rows of a JSON-lines file, one object per line; blank lines are skipped.

    Raises `InvalidImportRow` when the first object has a password field, before any row.
    """
    first = True
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            yield number, InvalidImportRow("not valid JSON")
            continue
        if not isinstance(value, dict):
            yield number, InvalidImportRow("not a JSON object")
            continue
        # As for a CSV header: a file of accounts with passwords is refused before anything is written.
        if first and any(is_secret_field(key) for key in value):
            try:
                check_import_fields(list(value))
            except InvalidImportRow as exc:
                raise InvalidImportRow(f"line {number}: {exc}") from None
        first = False
        yield number, value


# Merging and writing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPerson:
    """What the import may change of a stored person."""

    id: str
    given_name: str
    family_name: str
    birthdate: date | None
    mobile: str | None
    mobile_verified: bool
    proofing_tier: int


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What to write for one batch: new people, new values of stored ones, and rows not applied."""

    inserts: list[Person] = field(default_factory=list)
    updates: list[StoredPerson] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


class PeopleImportStore(Protocol):
    """Writes import batches, each in one transaction."""

    def write_batch(
        self, national_codes: Sequence[str], plan: Callable[[Mapping[str, StoredPerson]], BatchPlan]
    ) -> BatchPlan:
        """In one transaction: read the people with these national codes (keyed by code), pass them to
        `plan` and write the inserts and updates it returns; return that plan.

        If a person with one of the codes was added meanwhile, the batch is read and planned once more.
        """
        ...


def merge(old: StoredPerson, row: ImportRow) -> StoredPerson | str | None:
    """The stored values after importing `row` over `old`: None if nothing changes, a message if the
    row conflicts. Empty fields keep stored values and the tier is never lowered; for people proven
    at P2 or above the birth date and names came from the registry or an operator, so they stay."""
    verified = old.proofing_tier >= 2
    if verified and row.birthdate and old.birthdate and row.birthdate != old.birthdate:
        return "birth_date differs from the identity-verified record; row not applied"
    mobile = row.mobile or old.mobile
    new = replace(
        old,
        given_name=old.given_name if verified else row.given_name or old.given_name,
        family_name=old.family_name if verified else row.family_name or old.family_name,
        birthdate=row.birthdate or old.birthdate,
        mobile=mobile,
        # A different number has not been proven by a one-time code here.
        mobile_verified=old.mobile_verified and mobile == old.mobile,
        proofing_tier=max(old.proofing_tier, row.proofing_tier),
    )
    return None if new == old else new


@dataclass(slots=True)
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    # The first MAX_LISTED_ERRORS rejected rows: {"line": ..., "error": ...}.
    errors: list[dict[str, object]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected}


class PeopleImporter:
    """Collects valid rows into batches and writes each batch in one transaction.

    Feed it every record of a file in order, then call `flush`. `on_reject(line, message)` hears of
    each rejected row, in the order a one-batch-at-a-time import would report them: a batch's
    unreadable rows as they are fed, its rows the merge refuses once the batch is written.

    One batch is written on a background thread while the next is read and checked, so the
    database's work overlaps ours; batches are still written one after another, each seeing the
    ones before it, and at most two are held in memory.
    """

    def __init__(self, store: PeopleImportStore, *, batch_size: int, now: datetime,
                 on_reject: Callable[[int, str], None] = lambda line, message: None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._store = store
        self._batch_size = batch_size
        self._now = now
        self._today = now.date()
        self._on_reject = on_reject
        self._pending: dict[str, tuple[int, ImportRow]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[BatchPlan] | None = None
        # Rows rejected while the batch before them was being written: reported after its refusals.
        self._held: list[tuple[int, str]] = []
        self.counts = ImportCounts()
        # True right after a feed that wrote a batch: a good moment to report progress.
        self.flushed = False

    def feed(self, line: int, fields: Mapping[str, object] | InvalidImportRow) -> None:
        self.flushed = False
        try:
            if isinstance(fields, InvalidImportRow):
                raise fields
            row = parse_import_row(fields, today=self._today)
        except InvalidImportRow as exc:
            if self._writing is None:
                self._reject(line, str(exc))
            else:
                self._held.append((line, str(exc)))
            return
        # A national code seen again in this batch starts a new one, so later rows apply over
        # earlier ones exactly as they would across batches.
        if row.national_code in self._pending or len(self._pending) >= self._batch_size:
            self._submit()
        self._pending[row.national_code] = (line, row)

    def flush(self) -> None:
        """Write the rows collected so far, and wait until every batch is written."""
        try:
            self._submit()
            self._collect()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None

    def _submit(self) -> None:
        """Wait for the batch being written, then start writing the pending one."""
        self._collect()
        if not self._pending:
            return
        pending = self._pending
        self._pending = {}
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="people-import")
        self._writing = self._writer.submit(
            self._store.write_batch, list(pending), lambda existing: self._plan(pending, existing))

    def _collect(self) -> None:
        """Wait for the batch being written (raising what its write raised) and count it."""
        if self._writing is None:
            return
        writing, self._writing = self._writing, None
        held, self._held = self._held, []
        written = writing.result()
        self.counts.created += len(written.inserts)
        self.counts.updated += len(written.updates)
        self.counts.unchanged += written.unchanged
        for line, message in (*written.rejected, *held):
            self._reject(line, message)
        self.flushed = True

    def _plan(self, pending: Mapping[str, tuple[int, ImportRow]], existing: Mapping[str, StoredPerson]) -> BatchPlan:
        plan = BatchPlan()
        unchanged = 0
        for code, (line, row) in pending.items():
            old = existing.get(code)
            if old is None:
                plan.inserts.append(new_person(
                    row.national_code, row.given_name or "", row.family_name or "", birthdate=row.birthdate,
                    mobile=row.mobile, proofing_tier=row.proofing_tier, now=self._now,
                ))
                continue
            merged = merge(old, row)
            if isinstance(merged, str):
                plan.rejected.append((line, merged))
            elif merged is None:
                unchanged += 1
            else:
                plan.updates.append(merged)
        return replace(plan, unchanged=unchanged)

    def _reject(self, line: int, message: str) -> None:
        self.counts.rejected += 1
        if len(self.counts.errors) < MAX_LISTED_ERRORS:
            self.counts.errors.append({"line": line, "error": message})
        self._on_reject(line, message)
