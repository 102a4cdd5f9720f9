"""Time as an input: the core never reads a clock, adapters pass `now` in.

`SystemClock` is what runs; `ManualClock` moves only when a test says so (trio's MockClock idea).
Monotonic seconds drive deadlines; wall time is only for records shown to people.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock for tests: starts at `start`, moves only on `advance`."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_760_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now
