"""Real streams on the test sound server: what SpeakerSink plays is what reaches the null sink,
MicSource hears it on the monitor, positions match the audio that really reached the device,
and a flush drops what the device holds: the voice stops at once, counted where it stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import numpy as np
import pytest

from realtime_cli.audio.capture import MicSource
from realtime_cli.audio.convert import Resampler
from realtime_cli.audio.playback import SpeakerSink
from realtime_cli.testing.monitor import MonitorRecorder, Trace, locate

from .conftest import SoundServer
from .talk_support import recorded_through

pytestmark = pytest.mark.sound

RATE = 24_000


def noise(seconds: float, seed: int = 1, amp: float = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.standard_normal(int(seconds * RATE)) * amp), -32768, 32767).astype(np.int16)


def voiceband(seconds: float, seed: int = 2) -> np.ndarray:
    """Noise below 7 kHz: survives any resampling chain unchanged (LQ is flat to 9 kHz)."""
    spectrum = np.fft.rfft(noise(seconds, seed).astype(float))
    spectrum[int(len(spectrum) * 7000 / 12000) :] = 0
    return np.round(np.fft.irfft(spectrum, int(seconds * RATE))).astype(np.int16)


async def wait_for(predicate: Callable[[], bool], within: float, what: str) -> None:
    """Poll a snapshot (status() has no event to wait on) until true, or fail after `within` s."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - polling a snapshot is the API
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


async def caught_up(rec: MonitorRecorder, when: float) -> None:
    """Until `rec` holds what played by `when` (stream clock): it runs ~60 ms behind the DAC."""
    await wait_for(lambda: recorded_through(rec, when), 3, "the monitor to catch up with the DAC")


async def record_mic(mic: MicSource, into: list[bytes]) -> None:
    while True:
        into.append(await mic.read())


@pytest.fixture
def recorder(sound: SoundServer) -> Iterator[MonitorRecorder]:
    with MonitorRecorder(sound.monitor) as rec:
        assert rec.first_block.wait(3), "monitor delivered nothing for 3 s"
        yield rec


@pytest.fixture
async def speaker(sound: SoundServer) -> AsyncIterator[SpeakerSink]:
    sink = SpeakerSink(sound.sink)
    await sink.start()
    yield sink
    await sink.close()


@pytest.mark.parametrize(
    ("out_rate", "in_rate", "channels"),
    [(None, None, None), (48_000, 48_000, 2), (None, 44_100, 2)],
    ids=["24k-mono", "48k-stereo", "capture-44.1k-stereo"],
)
async def test_loopback_speaker_to_mic(
    sound: SoundServer, out_rate: int | None, in_rate: int | None, channels: int | None
) -> None:
    """24 kHz mono is bit-exact; at 48 kHz stereo both directions go through our resamplers
    (rt_sink48 runs at 48 kHz, so PulseAudio does not convert).

    An xrun the devices report (a starved speaker inserts silence, a late microphone drops a
    block: seen with the machine's cores all busy) voids the comparison, so that try is
    played again, up to three times; without a reported xrun any mismatch fails at once."""
    for attempt in range(3):
        if await _loop_once(sound, out_rate, in_rate, channels, last=attempt == 2):
            return


async def _loop_once(sound: SoundServer, out_rate: int | None, in_rate: int | None,
                     channels: int | None, *, last: bool) -> bool:
    """One loopback; True when it matched, False when it did not after a reported xrun."""
    on48 = out_rate == 48_000
    speaker = SpeakerSink(sound.sink48 if on48 else sound.sink, samplerate=out_rate, channels=channels)
    mic = MicSource(sound.monitor48 if on48 else sound.monitor, samplerate=in_rate, channels=channels)
    await speaker.start()
    await mic.start()
    other = MonitorRecorder(sound.monitor if on48 else sound.monitor48).start()
    captured: list[bytes] = []
    reader = asyncio.create_task(record_mic(mic, captured))
    try:
        assert (speaker.rate, mic.rate) == (out_rate or RATE, in_rate or RATE)
        await asyncio.wait_for(mic.first_block.wait(), 3)
        signal = noise(1.0) if out_rate is None and in_rate is None else voiceband(1.0)
        for chunk in np.array_split(signal, 10):
            speaker.play("item", chunk.tobytes())
        speaker.end_of_item("item")
        await wait_for(lambda: speaker.status().idle, 5, "playback to finish")
        # The monitor hands a sample over some 60 ms after it played: 8 more device blocks
        # (160 ms of capture) hold the end of the signal.
        blocks = mic.blocks_received
        await wait_for(lambda: mic.blocks_received >= blocks + 8, 3, "the capture to catch up")
    finally:
        reader.cancel()
        other.stop()
        await mic.close()
        await speaker.close()
    assert not other.signal().any(), "audio leaked to the other null sink"
    assert speaker.status().played_samples == len(signal)
    xruns = speaker.status().underruns + mic.levels().overflows
    got = np.frombuffer(b"".join(captured), dtype="<i2")
    start = locate(got, signal[:4800])
    heard = got[start : start + len(signal)]
    if out_rate is None and in_rate is None:
        matched = len(heard) == len(signal) and np.array_equal(heard, signal)
    else:
        corr = np.corrcoef(heard.astype(float), signal.astype(float))[0, 1]
        matched = len(heard) == len(signal) and corr > 0.995
        assert not matched or heard.std() / signal.std() == pytest.approx(1.0, abs=0.02)
    assert matched or (xruns and not last), f"loopback mismatch ({xruns} xruns reported)"
    return matched


@pytest.mark.parametrize("on48", [False, True], ids=["24k-mono", "48k-stereo"])
async def test_played_position_matches_what_reached_the_device(sound: SoundServer, on48: bool) -> None:
    rate = 48_000 if on48 else RATE
    sink = SpeakerSink(sound.sink48 if on48 else sound.sink, samplerate=rate, channels=2 if on48 else 1)
    await sink.start()
    rec = MonitorRecorder(sound.monitor48 if on48 else sound.monitor, rate=rate, channels=2 if on48 else 1)
    samples: list[tuple[float, int]] = []
    try:
        rec.start()
        assert rec.first_block.wait(3)
        item = voiceband(1.2, seed=5)
        sink.play("item", item.tobytes())
        sink.end_of_item("item")
        for k in range(200):
            when = sink.clock()
            st = sink.status()
            assert st.item_id in (None, "item")
            samples.append((when, st.played_samples))
            if st.idle:
                break
            await asyncio.sleep(0.011 + 0.007 * (k % 3))  # irregular, not locked to blocks
        await caught_up(rec, sink.clock())
    finally:
        rec.stop()
        await sink.close()
    rec.check_timing()
    if on48:
        # The monitor is at 48 kHz: bring the item there to find it (timing only).
        rs = Resampler(RATE, rate)
        ref = np.concatenate([rs.feed(item), rs.finish()])
    else:
        ref = item
    # Ground truth from content, not "start + elapsed": a device stall under load is real
    # time the listener did not hear anything, and the sink must not count it either.
    trace = Trace(rec, ref)
    truths = [trace.heard_at(when) for when, _ in samples]
    errors_ms = [(reported - truth) / 24 for (_, reported), truth in zip(samples, truths, strict=True)]
    moving = [e for e, truth in zip(errors_ms, truths, strict=True) if 0 < truth < len(item)]
    assert len(moving) >= 30
    worst = max(abs(e) for e in errors_ms)
    assert worst <= 10.0, f"position error up to {worst:.1f} ms: {[round(e, 1) for e in errors_ms]}"


class PullLog:
    """Wraps the speaker's feed: every block the callback pulls (its DAC time, whether it
    carried sound) and where in that list the feed was flushed. The mark is taken inside the
    feed's flush, which the speaker calls while its stream is stopped (between the abort and
    the restart), so "pulled after the flush" is exact; nothing here holds a lock across the
    speaker's flush, which waits for the callback to return."""

    def __init__(self, speaker: SpeakerSink) -> None:
        feed = speaker._feed
        assert feed is not None
        self.pulls: list[tuple[float, bool]] = []  # (DAC time, any sound) per pulled block
        self.flushed_after: list[int] = []  # per flush: blocks pulled before it
        pull, flush = feed.pull, feed.flush

        def logged_pull(frames: int, start: float) -> np.ndarray:
            block = pull(frames, start)
            self.pulls.append((start, bool(block.any())))
            return block

        def logged_flush(dropped_at: float | None = None) -> None:
            self.flushed_after.append(len(self.pulls))
            flush(dropped_at)

        feed.pull = logged_pull  # type: ignore[method-assign]
        feed.flush = logged_flush  # type: ignore[method-assign]


FLUSH_SILENT_MS = 15.0  # flush -> the voice silent at the sink
TRUNCATION_MS = 5.0  # played position after a flush vs what reached the sink


async def test_flush_drops_the_device_buffer(speaker: SpeakerSink, recorder: MonitorRecorder) -> None:
    """A flush stops the voice at the sink within 15 ms, however much the device had buffered
    (about 125 ms), and the played position it leaves is what reached the sink within 5 ms:
    both measured on the monitor, not on rt's own timeline. Before the cut the sink played
    the item bit for bit; after it, nothing of it."""
    log = PullLog(speaker)
    for k in range(3):
        item = noise(2.0, seed=9 + k)
        begin = len(recorder.signal())
        item_id = f"item{k}"
        speaker.play(item_id, item.tobytes())
        target = 12_000 + 41 * k  # a different phase within the device's blocks each time

        def reached(item_id: str = item_id, target: int = target) -> bool:
            st = speaker.status()
            return st.item_id == item_id and st.played_samples >= target

        await wait_for(reached, 3, "500 ms heard")
        flushed_at = speaker.clock()
        speaker.flush()
        assert speaker.error is None
        await wait_for(lambda: speaker.status().idle, 2, "silence after the flush")
        await caught_up(recorder, speaker.clock() + 0.05)
        final = speaker.status()
        recorder.check_timing()
        got = recorder.signal()[begin:]
        start = locate(got, item[:4800])
        end = int(np.flatnonzero(got)[-1]) + 1
        reached = end - start
        heard = final.played_samples
        assert final.item_id == item_id and final.underruns == 0
        assert np.array_equal(got[start:end], item[:reached]), "the sink played something else"
        assert abs(heard - reached) <= TRUNCATION_MS * RATE / 1000, (heard, reached)
        silent_ms = (recorder.time_of(begin + end - 1) - flushed_at) * 1000
        assert silent_ms <= FLUSH_SILENT_MS, silent_ms
        # The feed hands the device nothing of the item after the flush: only silence.
        assert not any(sound for _, sound in log.pulls[log.flushed_after[k]:])


async def test_stop_ends_playback_for_good(speaker: SpeakerSink, recorder: MonitorRecorder) -> None:
    """The session's end: the voice stops at once as on a flush, the played position stays at
    what reached the sink, and nothing played afterwards reaches it: the stream stays stopped."""
    item = noise(2.0, seed=21)
    begin = len(recorder.signal())
    speaker.play("item", item.tobytes())
    await wait_for(lambda: speaker.status().played_samples >= 12_000, 3, "500 ms heard")
    speaker.stop()
    assert speaker.error is None
    await wait_for(lambda: speaker.status().idle, 2, "silence after the stop")
    heard = speaker.status().played_samples
    speaker.play("later", noise(0.5, seed=22).tobytes())
    speaker.end_of_item("later")
    await caught_up(recorder, speaker.clock() + 0.3)
    got = recorder.signal()[begin:]
    start = locate(got, item[:4800])
    end = int(np.flatnonzero(got)[-1]) + 1
    assert np.array_equal(got[start:end], item[: end - start]), "the sink played something else"
    assert abs(heard - (end - start)) <= TRUNCATION_MS * RATE / 1000, (heard, end - start)
    assert speaker.status().played_samples == heard


async def test_underrun_is_filled_with_silence_and_counted(
    speaker: SpeakerSink, recorder: MonitorRecorder
) -> None:
    item = noise(0.3, seed=3)
    speaker.play("item", item[:4800].tobytes())  # 200 ms, then the network stalls
    await wait_for(lambda: speaker.status().played_samples >= 4000, 2, "first part heard")
    await asyncio.sleep(0.1)  # the stall itself: the item's audio is late, not a wait on it
    speaker.play("item", item[4800:].tobytes())
    speaker.end_of_item("item")
    await wait_for(lambda: speaker.status().idle, 2, "the rest played")
    st = speaker.status()
    assert st.underruns == 1 and st.played_samples == len(item)


async def test_short_item_below_the_prebuffer_plays_when_complete(
    speaker: SpeakerSink, recorder: MonitorRecorder
) -> None:
    item = noise(0.04, seed=4)  # 40 ms < 80 ms prebuffer
    speaker.play("short", item.tobytes())
    await asyncio.sleep(0.1)  # long enough to see it would have started: it must not
    assert speaker.status().played_samples == 0
    speaker.end_of_item("short")
    await wait_for(lambda: speaker.status().idle, 2, "the short item to play")
    assert speaker.status().played_samples == len(item)
    await caught_up(recorder, speaker.clock())
    got = recorder.signal()
    start = locate(got, item)
    assert np.array_equal(got[start : start + len(item)], item)


async def test_mic_levels_and_speech_indicator(sound: SoundServer, speaker: SpeakerSink) -> None:
    mic = MicSource(sound.monitor)
    await mic.start()
    try:
        for _ in range(10):
            await mic.read()
        quiet = mic.levels()
        assert quiet.level_dbfs <= -100 and not quiet.speech
        speaker.play("loud", noise(0.5, amp=6000).tobytes())
        speaker.end_of_item("loud")
        for _ in range(50):
            await mic.read()
            if mic.levels().speech:
                break
        for _ in range(5):
            await mic.read()
        loud = mic.levels()
        assert loud.speech and loud.level_dbfs == pytest.approx(-14.7, abs=1.0)  # 6000 rms
        assert loud.overflows == 0
    finally:
        await mic.close()
