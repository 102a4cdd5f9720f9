"""MicSource's crossing from the PortAudio thread: the loop is woken for the block that
completes a chunk, not for every block, and every chunk still comes out after the same block
as when each block was handled on its own (no device: blocks are handed to `_cross` directly).
A quiet microphone goes out in 100 ms chunks; a block with sound wakes the loop at once and
turns them to 40 ms, until the hold after the last such block has passed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from realtime_cli.audio.capture import SOUND_PEAK, MicSource, has_sound


def _source(rate: int, channels: int, loop: asyncio.AbstractEventLoop) -> MicSource:
    mic = MicSource(samplerate=rate, channels=channels)
    mic._loop = loop
    mic._use_format(rate, channels)
    return mic


def _queued(mic: MicSource) -> list[bytes]:
    out = []
    while not mic._queue.empty():
        chunk = mic._queue.get_nowait()
        assert chunk is not None
        out.append(chunk)
    return out


@contextmanager
def counting_wakes(loop: asyncio.AbstractEventLoop) -> Iterator[list[int]]:
    """Counts the PortAudio thread's wake-ups of the loop (`call_soon_threadsafe`) in `[0]`."""
    wakes = [0]
    real = loop.call_soon_threadsafe

    def counting(callback, *args):  # type: ignore[no-untyped-def]
        wakes[0] += 1
        return real(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    try:
        yield wakes
    finally:
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]


@pytest.mark.parametrize(("rate", "channels"), [(24_000, 1), (48_000, 2), (44_100, 2), (16_000, 1)])
async def test_the_loop_wakes_per_chunk_and_no_chunk_comes_later(rate: int, channels: int) -> None:
    loop = asyncio.get_running_loop()
    batched, each = _source(rate, channels, loop), _source(rate, channels, loop)
    rng = np.random.default_rng(3)
    frames = round(rate * 0.02)
    blocks = 200
    got: list[bytes] = []
    want: list[bytes] = []
    with counting_wakes(loop) as wakes:
        for k in range(blocks):
            block = np.round(rng.standard_normal((frames, channels)) * 3000).astype(np.int16)
            batched._cross(block.tobytes(), False, k * 0.02)
            each._on_block(block.tobytes(), False, k * 0.02)
            await asyncio.sleep(0)  # the loop runs what was scheduled, as it would at once
            got += _queued(batched)
            want += _queued(each)
            assert len(got) == len(want), f"block {k}: a chunk came out later than before"
    if rate == 24_000:
        assert got == want
    else:  # soxr is not bit-exact from one resampler to another, even on the same input
        diff = np.frombuffer(b"".join(got), "<i2").astype(int) - np.frombuffer(b"".join(want), "<i2")
        assert np.abs(diff).max() <= 4
    assert batched.blocks_received + len(batched._inbox) == blocks and batched.first_block.is_set()
    chunks = len(want)
    assert chunks >= blocks // 2 - 1
    assert wakes[0] <= chunks + 1 + chunks // 10  # the first block, one per chunk, a rare early one


async def test_a_lost_device_wakes_the_loop_at_once() -> None:
    loop = asyncio.get_running_loop()
    mic = _source(24_000, 1, loop)
    mic._stream = object()  # started
    for k in range(6):  # a quiet chunk (100 ms) and a block: no wake due
        mic._cross(bytes(960), False, k * 0.02)
    mic._finished()
    await asyncio.sleep(0)
    assert mic.blocks_received == 6
    await mic.read()  # the one whole chunk
    with pytest.raises(Exception, match="stopped delivering audio"):
        await mic.read()


QUIET, SHORT = 4800, 1920  # bytes of 24 kHz PCM16: 100 ms, 40 ms


def _block(rng: np.random.Generator, level: float) -> np.ndarray:
    """20 ms at 24 kHz mono, Gaussian noise of `level` RMS."""
    return np.round(rng.standard_normal((480, 1)) * level).astype(np.int16)


async def _cross_all(mic: MicSource, blocks: list[np.ndarray]) -> tuple[list[bytes], int]:
    """Hand the blocks over one by one as the callback would; the chunks, and the wake-ups."""
    got: list[bytes] = []
    with counting_wakes(asyncio.get_running_loop()) as wakes:
        for k, block in enumerate(blocks):
            mic._cross(block.tobytes(), False, k * 0.02)
            await asyncio.sleep(0)
            got += _queued(mic)
    return got, wakes[0]


async def test_a_quiet_microphone_goes_out_in_100_ms_chunks_with_a_wake_up_each() -> None:
    rng = np.random.default_rng(5)
    blocks = [_block(rng, 30.0) for _ in range(100)]  # -61 dBFS: a quiet room's noise
    assert max(int(np.abs(b).max()) for b in blocks) <= SOUND_PEAK
    mic = _source(24_000, 1, asyncio.get_running_loop())
    got, wakes = await _cross_all(mic, blocks)
    assert [len(c) for c in got] == [QUIET] * 20
    assert b"".join(got) == b"".join(b.tobytes() for b in blocks)
    assert wakes <= 21  # the first block, then one per chunk


async def test_a_block_with_sound_goes_out_at_once_then_40_ms_chunks_until_the_hold_ends() -> None:
    rng = np.random.default_rng(6)
    quiet = [_block(rng, 30.0) for _ in range(12)]  # 240 ms: two quiet chunks out, 40 ms pending
    speech = [_block(rng, 3000.0) for _ in range(25)]  # half a second of a voice
    after = [_block(rng, 30.0) for _ in range(60)]  # 1.2 s of quiet: the hold, then quiet again
    mic = _source(24_000, 1, asyncio.get_running_loop())
    mic._hold = round(24_000 * 0.5)
    got, _ = await _cross_all(mic, quiet)
    assert [len(c) for c in got] == [QUIET, QUIET]
    onset, wakes = await _cross_all(mic, speech[:1])
    # woken by the sound itself, not by a chunk's worth of frames: all but the last 20 ms is sent
    assert wakes == 1 and [len(c) for c in onset] == [SHORT]
    rest, _ = await _cross_all(mic, speech[1:] + after)
    sizes = [len(c) for c in rest]
    # 20 ms pending + 480 ms of speech + the hold's 480 ms (it ends with the 25th quiet block):
    # 24 chunks of 40 ms, then 100 ms ones
    assert sizes[:24] == [SHORT] * 24 and set(sizes[24:]) == {QUIET}, sizes
    everything = b"".join(b.tobytes() for b in quiet + speech + after)
    sent = b"".join(got + onset + rest)
    assert sent == everything[:len(sent)] and len(everything) - len(sent) < QUIET


@pytest.mark.parametrize(("rate", "channels"), [(48_000, 2), (44_100, 1)])
async def test_sound_at_any_device_format_turns_the_chunks_short(rate: int, channels: int) -> None:
    rng = np.random.default_rng(7)
    frames = round(rate * 0.02)
    quiet = [np.zeros((frames, channels), np.int16) for _ in range(10)]
    loud = [np.round(rng.standard_normal((frames, channels)) * 3000).astype(np.int16)
            for _ in range(10)]
    mic = _source(rate, channels, asyncio.get_running_loop())
    got, _ = await _cross_all(mic, quiet + loud)
    sizes = [len(c) for c in got]
    assert sizes[0] == QUIET and sizes[-1] == SHORT, sizes


def test_the_sound_check_reads_every_int16_value_as_its_threshold_says() -> None:
    """The callback's bytes-only check against the plain comparison, for every sample value,
    alone and among quiet samples, mono and interleaved stereo."""
    values = np.arange(-32768, 32768, dtype=np.int32)
    loud = (values >= SOUND_PEAK) | (values <= -SOUND_PEAK - 1)
    for x, want in zip(values.tolist(), loud.tolist(), strict=True):
        assert has_sound(np.array([x], dtype="<i2").tobytes()) is want, x
    quiet = np.full(959, 100, dtype="<i2")
    for x in (-257, -256, 255, 256, 32767, -32768):
        stereo = np.insert(quiet, 500, x).reshape(-1, 2)
        assert has_sound(stereo.tobytes()) is bool(x >= SOUND_PEAK or x <= -SOUND_PEAK - 1)
