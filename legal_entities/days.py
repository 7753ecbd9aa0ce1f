"""Mandate days: a registry date means a whole day on Tehran's clock; times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TEHRAN = ZoneInfo("Asia/Tehran")


def mandate_start(day: date) -> datetime:
    """The moment a mandate valid from `day` starts: midnight in Tehran, as UTC."""
    return datetime.combine(day, time(), tzinfo=TEHRAN).astimezone(UTC)


def mandate_end(day: date) -> datetime:
    """The moment a mandate whose last day is `day` ends: the next midnight in Tehran, as UTC."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=TEHRAN).astimezone(UTC)


def last_day(end: datetime) -> date:
    """The last day, on Tehran's clock, of a mandate that ends at `end` (the inverse of `mandate_end`)."""
    # Step back in UTC, then read Tehran's calendar: arithmetic on an aware datetime moves its clock face,
    # and on a day whose midnight was skipped (summer time before 2022 began at 00:00) `end` reads 01:00,
    # so stepping back on the face would stay on the next day.
    return (end - timedelta(microseconds=1)).astimezone(TEHRAN).date()


def first_day(start: datetime) -> date:
    """The day, on Tehran's clock, on which a mandate starting at `start` starts."""
    return start.astimezone(TEHRAN).date()
