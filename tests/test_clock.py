"""The manual clock that tests pace devices with: sleepers wake at their deadlines, no earlier."""

from __future__ import annotations

import asyncio

import pytest

from realtime_cli.clock import ManualClock, SystemClock


async def test_advance_wakes_the_sleepers_whose_deadline_it_reaches(clock: ManualClock) -> None:
    woke: list[str] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(nap("late", 0.5)), asyncio.create_task(nap("soon", 0.2))]
    await asyncio.sleep(0)
    clock.advance(0.1999)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.0001)
    await asyncio.sleep(0)
    assert woke == ["soon"]
    clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert woke == ["soon", "late"] and clock.monotonic() == pytest.approx(1001.2)


async def test_run_for_stops_at_each_deadline_on_the_way(clock: ManualClock) -> None:
    """A task that paces itself sees each of its steps at its own time, not the end of the run."""
    seen: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(0.1)
            seen.append(round(clock.monotonic() - 1000.0, 9))

    task = asyncio.create_task(ticker())
    assert await clock.run_for(0.35) == 1000.35
    assert seen == [0.1, 0.2, 0.3]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await clock.run_for(1.0) == 1001.35 and seen == [0.1, 0.2, 0.3]  # cancelled: gone


async def test_a_sleep_of_nothing_only_yields() -> None:
    clock = ManualClock(start=5.0, wall_offset=100.0)
    await clock.sleep(0)
    await clock.sleep(-1)
    assert (clock.monotonic(), clock.wall()) == (5.0, 105.0)
    await SystemClock().sleep(-1)  # never negative to asyncio
