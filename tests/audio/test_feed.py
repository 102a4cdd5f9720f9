"""PlaybackFeed (jitter buffer + timeline + resampling behind one lock), converters, levels."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from realtime_cli.audio.convert import CaptureConverter, Resampler
from realtime_cli.audio.feed import PlaybackFeed
from realtime_cli.audio.levels import SpeechIndicator
from realtime_cli.audio.pcm import SILENCE_DBFS


def sine(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(float) * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_feed_at_48k_resamples_each_item_and_reports_24k_positions() -> None:
    feed = PlaybackFeed(48_000, prebuffer_ms=80)
    pcm = sine(440, 0.5, 24_000)
    for chunk in np.array_split(pcm, 7):  # deltas of uneven size
        feed.play("a", chunk.tobytes())
    feed.end_of_item("a")
    out = np.concatenate([feed.pull(960, start=k * 0.02) for k in range(30)])
    audio = out[np.flatnonzero(out)[0] : np.flatnonzero(out)[-1] + 1]
    assert abs(len(audio) - 24_000) <= 4  # 0.5 s at 48 kHz, nothing lost or held back
    assert dominant_hz(audio, 48_000) == pytest.approx(440, abs=3)
    status = feed.status(now=10.0)
    assert status.item_id == "a" and status.played_samples == 12_000 and status.idle


def test_feed_reports_the_level_of_the_last_block_handed_out() -> None:
    feed = PlaybackFeed(24_000, prebuffer_ms=60)
    assert feed.status(0.0).level_dbfs == SILENCE_DBFS
    loud = sine(1000, 0.2, 24_000, amp=0.5)  # rms 0.5/sqrt(2) of full scale: -9.0 dBFS
    feed.play("a", loud.tobytes())
    feed.end_of_item("a")
    feed.pull(480, start=0.0)
    assert feed.status(0.0).level_dbfs == pytest.approx(-9.0, abs=0.1)
    feed.play("b", (loud // 10).tobytes())  # 20 dB quieter, after the 200 ms of "a"
    for k in range(1, 12):
        feed.pull(480, start=k * 0.02)
    assert feed.status(0.3).level_dbfs == pytest.approx(-29.0, abs=0.2)
    feed.flush()
    feed.pull(480, start=0.3)  # the fade-out
    feed.pull(480, start=0.32)  # silence
    assert feed.status(0.4).level_dbfs == SILENCE_DBFS


def test_feed_flush_with_a_dropped_device_buffer_counts_what_was_heard_then() -> None:
    """The speaker drops its device buffer (45 ms of blocks pulled ahead) and flushes with the
    time it did: heard is what had reached the DAC by then, nothing more plays, and the next
    item starts from nothing."""
    feed = PlaybackFeed(24_000, prebuffer_ms=60)
    feed.play("a", sine(300, 1.0, 24_000).tobytes())
    for k in range(20):  # 200 ms pulled, each block reaching the DAC 45 ms later
        feed.pull(240, start=k * 0.01 + 0.045)
    feed.flush(dropped_at=0.1)
    assert feed.status(0.3).item_id == "a"
    assert feed.status(0.3).played_samples == round((0.1 - 0.045) * 24_000)
    assert not feed.pull(240, start=0.3).any() and feed.status(0.3).idle
    feed.play("a", sine(300, 0.1, 24_000).tobytes())  # late deltas of the flushed item
    feed.play("b", sine(300, 0.1, 24_000).tobytes())
    feed.end_of_item("b")
    assert feed.pull(240, start=0.4).any()
    assert (feed.status(0.41).item_id, feed.status(0.41).played_samples) == ("b", 240)


def test_feed_status_is_consistent_while_a_thread_pulls() -> None:
    """The callback thread pulls while the loop plays, flushes and reads status."""
    feed = PlaybackFeed(24_000, prebuffer_ms=60)
    stop = threading.Event()
    clock = [0.0]

    def consumer() -> None:
        while not stop.is_set():
            feed.pull(480, start=clock[0] + 0.05)
            clock[0] += 0.02

    thread = threading.Thread(target=consumer)
    thread.start()
    try:
        last: dict[str, int] = {}
        for i in range(2000):
            item = f"item{i // 200}"
            feed.play(item, sine(300, 0.01, 24_000).tobytes())
            if i % 200 == 199:
                feed.flush()
            st = feed.status(now=clock[0])
            if st.item_id is not None:
                assert st.played_samples >= last.get(st.item_id, 0)
                last[st.item_id] = st.played_samples
            assert st.buffered_ms >= 0
    finally:
        stop.set()
        thread.join()


def test_capture_converter_downmixes_and_resamples_any_format() -> None:
    for rate, channels in [(48_000, 2), (44_100, 1), (16_000, 2), (24_000, 1)]:
        conv = CaptureConverter(rate, channels)
        tone = sine(1000, 1.0, rate)
        block = np.repeat(tone[:, None], channels, axis=1)
        out = np.concatenate([conv.feed(block[i : i + rate // 50]) for i in range(0, rate, rate // 50)])
        assert abs(len(out) - 24_000) < 24_000 * 0.01, (rate, len(out))
        assert dominant_hz(out[2400:], 24_000) == pytest.approx(1000, abs=5)
        rms = np.sqrt(np.mean(out[2400:].astype(float) ** 2))
        assert rms == pytest.approx(0.3 * 32767 / np.sqrt(2), rel=0.02)


def test_resampler_streams_with_little_hold_back() -> None:
    """LQ on purpose: ~20 ms chunks and a few ms held back, not HQ's 30 ms (see convert.py)."""
    for rate in (48_000, 44_100, 16_000):
        rs = Resampler(rate, 24_000)
        sizes = [len(rs.feed(np.zeros(rate // 50, dtype=np.int16))) for _ in range(100)]
        assert max(sizes[1:]) <= 960 and min(sizes[3:]) >= 400, sizes
        assert 48_000 - sum(sizes) <= 15 * 24  # at most 15 ms held back
        assert sum(sizes) + len(rs.finish()) == 48_000


def test_speech_indicator_follows_energy_with_hangover() -> None:
    ind = SpeechIndicator(threshold_dbfs=-50, hangover_ms=100)
    assert not any(ind.update(-70, 20) for _ in range(10))  # room noise
    assert ind.update(-25, 20)  # talking
    assert all(ind.update(-70, 20) for _ in range(5))  # hangover: 100 ms
    assert not ind.update(-70, 20)
