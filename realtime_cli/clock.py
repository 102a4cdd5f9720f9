"""Time as an input: the core never reads a clock, adapters pass `now` in.

`SystemClock` is what runs; `ManualClock` moves only when a test says so (trio's MockClock idea).
Monotonic seconds drive deadlines; wall time is only for records shown to people. Whatever paces
itself in real time (the WAV stand-ins for the microphone and the speaker) waits with the
clock's `sleep`, so on a `ManualClock` a test decides when each wait is over.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock (at once, after a yield, if <= 0)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_DUE_WITHIN_S = 1e-9
"""A deadline this close past the time a clock is moved to counts as reached: sums of block
lengths (20 ms steps) and the deadlines computed from them differ in the last bits."""

_SETTLE_PASSES = 3
"""Event-loop passes `ManualClock.run_for` gives a task it woke before moving on: one is enough
for a task whose next wait is the clock's own `sleep`, the rest is margin."""


class ManualClock:
    """A clock for tests: starts at `start`, moves only on `advance` or `run_for`.

    A task in `sleep` wakes when the clock is moved to or past its deadline. `advance` jumps at
    once; `run_for` stops at each deadline on the way and lets the woken task run, so a task that
    paces itself (sleep, work, sleep again) sees every step at its own time.
    """

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_760_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []  # a heap by deadline
        self._order = itertools.count()  # ties wake in the order they slept

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> float:
        self._now += seconds
        self._wake_due()
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), woken))
        await woken

    async def run_for(self, seconds: float) -> float:
        """Move `seconds` ahead through every deadline on the way, each sleeper woken at its own
        time and given a few loop passes to run to its next wait; returns the new time."""
        target = self._now + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target + _DUE_WITHIN_S:
            self._now = max(self._now, self._sleepers[0][0])
            self._wake_due()
            await self._settle()
        self._now = max(self._now, target)
        return self._now

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now + _DUE_WITHIN_S:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():  # its task may have been cancelled meanwhile
                woken.set_result(None)

    @staticmethod
    async def _settle() -> None:
        for _ in range(_SETTLE_PASSES):
            await asyncio.sleep(0)
