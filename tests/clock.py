"""A clock tests set by hand, for code that takes `clock: Callable[[], datetime]`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        # Default: the real time, so tokens it dates are valid to verifiers using the real clock.
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
