"""A CSV file of fictional people in the format `idp people import` reads, generated once per count.

Every row is valid: a national code with its check digit, a Jalali birth date, an Iranian mobile,
Persian names and a proofing tier. Row i is the same person in every file (a file of 1,000 is the
first 1,000 rows of a file of 1,000,000), and no two rows share a national code. Generating is
kept cheap (dates formatted once, random numbers drawn in bulk), and each file is cached under
var/bench/ by its count, so a second run skips it.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import jdatetime

from levels.iranian_input import make_national_code

# Bump when the rows change, so cached files of the old shape are not reused.
VERSION = 1
HEADER = ("national_code", "birth_date", "mobile", "proofing_tier", "given_name", "family_name")
_CHUNK = 20_000
# Prefixes i * STEP (mod SPAN) + BASE walk the nine-digit prefixes 100000000..999999999 without
# repeating (STEP is prime to SPAN), spread out like real codes rather than counting up.
_BASE, _SPAN, _STEP, _START = 100_000_000, 900_000_000, 104_729, 12_345
_GIVEN = (
    "محمد", "علی", "حسین", "رضا", "مهدی", "امیر", "حسن", "مرتضی", "سعید", "احمد", "جواد", "مجید",
    "فاطمه", "زهرا", "مریم", "سارا", "نرگس", "لیلا", "معصومه", "الهام", "سمیه", "مهسا", "نازنین", "کیمیا",
    "علی‌اکبر", "محمدرضا", "امیرحسین", "فرشته", "پریسا", "یگانه", "آرش", "کوروش", "شیرین", "بهاره",
)
_FAMILY = (
    "احمدی", "محمدی", "حسینی", "رضایی", "کریمی", "موسوی", "جعفری", "کاظمی", "رحیمی", "صادقی", "هاشمی",
    "قاسمی", "نوری", "اکبری", "عباسی", "حیدری", "یوسفی", "مرادی", "سلیمانی", "ابراهیمی", "زارعی",
    "طاهری", "فرهادی", "شریفی", "بهرامی", "نجفی", "کیانی", "میرزایی", "امیری", "خسروی", "پورمحمدی",
)
_MOBILE_PREFIXES = ("0912", "0919", "0935", "0936", "0937", "0938", "0939", "0901", "0902", "0990", "0921")
_TIERS = ("1",) * 16 + ("2",) * 3 + ("3",)


def path_for(count: int, directory: Path) -> Path:
    return directory / f"people-v{VERSION}-{count}.csv"


def ensure(count: int, directory: Path) -> tuple[Path, bool]:
    """The cached file of `count` people, generated first if missing; True if it was generated now."""
    path = path_for(count, directory)
    if path.exists():
        return path, False
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for chunk in rows(count):
            writer.writerows(chunk)
    partial.replace(path)  # only a whole file is ever found under the cached name
    return path, True


def national_codes(count: int) -> Iterator[str]:
    """The national codes of rows 0..count-1, in order."""
    i = made = 0
    while made < count:
        prefix = (i * _STEP + _START) % _SPAN + _BASE
        i += 1
        digits = str(prefix)
        if digits.count(digits[0]) == 9:
            continue  # 111111111 and the like can have no valid code
        made += 1
        yield make_national_code(digits)


def rows(count: int) -> Iterator[list[tuple[str, ...]]]:
    """The rows (without the header), in chunks."""
    rng = random.Random(f"people-{VERSION}")  # the same people in every run and every file size
    days = _jalali_days(date(1935, 1, 1), date(2007, 1, 1))
    codes = national_codes(count)
    for start in range(0, count, _CHUNK):
        n = min(_CHUNK, count - start)
        births = rng.choices(days, k=n)
        prefixes = rng.choices(_MOBILE_PREFIXES, k=n)
        lines = [rng.randrange(10_000_000) for _ in range(n)]
        tiers = rng.choices(_TIERS, k=n)
        given = rng.choices(_GIVEN, k=n)
        family = rng.choices(_FAMILY, k=n)
        yield [
            (next(codes), births[k], f"{prefixes[k]}{lines[k]:07d}", tiers[k], given[k], family[k])
            for k in range(n)
        ]


def _jalali_days(first: date, last: date) -> list[str]:
    """Every day from `first` up to `last` written in the Persian calendar (1369/01/01)."""
    out = []
    day = jdatetime.date.fromgregorian(date=first)
    one = timedelta(days=1)
    for _ in range((last - first).days):
        out.append(f"{day.year:04d}/{day.month:02d}/{day.day:02d}")
        day += one
    return out
