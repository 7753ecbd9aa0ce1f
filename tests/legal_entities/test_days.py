from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from legal_entities.days import first_day, last_day, mandate_end, mandate_start

TEHRAN = ZoneInfo("Asia/Tehran")
INSTANT = timedelta(microseconds=1)


def every_day(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_every_day_from_1979_to_2040_starts_and_ends_at_midnight_in_tehran() -> None:
    wrong = []
    for day in every_day(date(1979, 1, 1), date(2040, 12, 31)):
        start, end = mandate_start(day), mandate_end(day)
        # zoneinfo is the reference: the instant before the start is on the previous day in Tehran, the
        # start and the instant before the end are on `day`, the end is on the next day.
        expected = [day - timedelta(days=1), day, day, day + timedelta(days=1)]
        seen = [(moment.astimezone(TEHRAN)).date() for moment in (start - INSTANT, start, end - INSTANT, end)]
        if seen != expected or first_day(start) != day or last_day(end) != day:
            wrong.append(day)
    assert wrong == []


def test_the_last_day_before_a_summer_time_switch_at_midnight() -> None:
    # Tehran's clocks went from 00:00 to 01:00 on 2021-03-22 (1 Farvardin 1400): that midnight never
    # happened, so a mandate whose last day is 2021-03-21 ends at 01:00 summer time, 20:30 UTC.
    end = mandate_end(date(2021, 3, 21))
    assert end == datetime(2021, 3, 21, 20, 30, tzinfo=UTC)
    assert last_day(end) == date(2021, 3, 21)


def test_times_are_utc() -> None:
    assert mandate_start(date(2025, 6, 1)) == datetime(2025, 5, 31, 20, 30, tzinfo=UTC)
    assert mandate_start(date(2025, 6, 1)).tzinfo is UTC
    assert first_day(datetime(2025, 5, 31, 20, 30, tzinfo=UTC)) == date(2025, 6, 1)
