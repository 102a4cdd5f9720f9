"""MicSource's crossing from the PortAudio thread: the loop is woken for the block that
completes a chunk, not for every block, and every chunk still comes out after the same block
as when each block was handled on its own (no device: blocks are handed to `_cross` directly)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from realtime_cli.audio.capture import MicSource
from realtime_cli.audio.convert import CaptureConverter


def _source(rate: int, channels: int, loop: asyncio.AbstractEventLoop) -> MicSource:
    mic = MicSource(samplerate=rate, channels=channels)
    mic._loop, mic.rate, mic.channels = loop, rate, channels
    mic._converter = CaptureConverter(rate, channels)
    mic._slack = max(1, rate // 1000)
    return mic


def _queued(mic: MicSource) -> list[bytes]:
    out = []
    while not mic._queue.empty():
        chunk = mic._queue.get_nowait()
        assert chunk is not None
        out.append(chunk)
    return out


@pytest.mark.parametrize(("rate", "channels"), [(24_000, 1), (48_000, 2), (44_100, 2), (16_000, 1)])
async def test_the_loop_wakes_per_chunk_and_no_chunk_comes_later(rate: int, channels: int) -> None:
    loop = asyncio.get_running_loop()
    batched, each = _source(rate, channels, loop), _source(rate, channels, loop)
    wakes = 0
    real = loop.call_soon_threadsafe

    def counting(callback, *args):  # type: ignore[no-untyped-def]
        nonlocal wakes
        wakes += 1
        return real(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    rng = np.random.default_rng(3)
    frames = round(rate * 0.02)
    blocks = 200
    got: list[bytes] = []
    want: list[bytes] = []
    try:
        for k in range(blocks):
            block = np.round(rng.standard_normal((frames, channels)) * 3000).astype(np.int16)
            batched._cross(block.copy(), False, k * 0.02)
            each._on_block(block.copy(), False, k * 0.02)
            await asyncio.sleep(0)  # the loop runs what was scheduled, as it would at once
            got += _queued(batched)
            want += _queued(each)
            assert len(got) == len(want), f"block {k}: a chunk came out later than before"
    finally:
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]
    if rate == 24_000:
        assert got == want
    else:  # soxr is not bit-exact from one resampler to another, even on the same input
        diff = np.frombuffer(b"".join(got), "<i2").astype(int) - np.frombuffer(b"".join(want), "<i2")
        assert np.abs(diff).max() <= 4
    assert batched.blocks_received + len(batched._inbox) == blocks and batched.first_block.is_set()
    chunks = len(want)
    assert chunks >= blocks // 2 - 1
    assert wakes <= chunks + 1 + chunks // 10  # the first block, one per chunk, a rare early one


async def test_a_lost_device_wakes_the_loop_at_once() -> None:
    loop = asyncio.get_running_loop()
    mic = _source(24_000, 1, loop)
    mic._stream = object()  # started
    mic._cross(np.zeros((480, 1), dtype=np.int16), False, 0.0)
    mic._cross(np.zeros((480, 1), dtype=np.int16), False, 0.02)
    mic._cross(np.zeros((480, 1), dtype=np.int16), False, 0.04)  # half a chunk: no wake due
    mic._finished()
    await asyncio.sleep(0)
    assert mic.blocks_received == 3
    await mic.read()  # the one whole chunk
    with pytest.raises(Exception, match="stopped delivering audio"):
        await mic.read()
