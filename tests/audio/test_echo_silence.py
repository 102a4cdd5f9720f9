"""The far reference knows where it holds only silence, and the gate and the delay estimator
skip their work there with exactly the result they would have computed; the delay estimator
decimates as it did, faster."""

from __future__ import annotations

import numpy as np

from realtime_cli.audio.echo.delay import DelayEstimator
from realtime_cli.audio.echo.gate import EchoGate
from realtime_cli.audio.echo.timeline import Reference

RATE = 24_000


def _full_far_peak(gate: EchoGate, ref: Reference, stop: int) -> float:
    span = ref.read(stop - gate.lookback - gate.chunk, stop).astype(np.float32)
    usable = len(span) // gate.chunk * gate.chunk
    chunks = span[len(span) - usable:].reshape(-1, gate.chunk)
    return float(np.max(np.einsum("ij,ij->i", chunks, chunks))) / gate.chunk


def test_silent_spans_are_known_without_reading() -> None:
    ref = Reference(RATE)
    assert ref.silent(0)  # nothing written: all zeros
    ref.write(1000, np.zeros(480, dtype=np.int16))
    assert ref.silent(0)
    loud = np.full(480, 100, dtype=np.int16)
    ref.write(1480, loud)
    assert not ref.silent(1959) and ref.silent(1960)
    ref.write(5000, np.zeros(480, dtype=np.int16))  # a gap, then silence
    assert not ref.silent(1900) and ref.silent(1960)
    ref.write(1000, loud)  # a stream re-anchored backwards over old samples
    assert not ref.silent(1959) and ref.silent(1960)


def test_far_peak_and_delay_estimate_agree_with_the_full_computation() -> None:
    rng = np.random.default_rng(5)
    ref, gate = Reference(RATE), EchoGate(RATE)
    estimator = DelayEstimator(RATE)
    pos, skipped = 0, 0
    for k in range(600):
        block = np.zeros(120, dtype=np.int16)
        if (k // 40) % 3 == 0:  # bursts of far speech between silences
            block = np.round(rng.standard_normal(120) * 4000).astype(np.int16)
        if k % 97 == 96:
            pos -= 240  # a re-anchor backwards
        ref.write(pos, block)
        pos += 120
        stop = pos - 600
        if stop <= 0:
            continue
        estimator.near.write(stop - 480, np.round(rng.standard_normal(480) * 300).astype(np.int16))
        assert gate.far_peak(ref, stop - 480, stop) == _full_far_peak(gate, ref, stop)
        skipped += ref.silent(stop - gate.lookback - gate.chunk)
        estimator.due = 0
        quick = estimator.estimate(ref, stop)
        known, ref.sound_end = ref.sound_end, 1 << 40  # as if it did not know: the full estimate
        estimator.due = 0
        assert estimator.estimate(ref, stop) == quick
        ref.sound_end = known
    assert skipped > 50  # the quiet stretches were long enough to skip


def test_decimation_gives_the_numbers_of_the_mean_of_each_run() -> None:
    from realtime_cli.audio.echo.delay import decimate

    rng = np.random.default_rng(9)
    pcm = rng.integers(-32768, 32768, 31_200).astype(np.int16)
    pcm[:8] = [-32768, -32768, -32768, -32768, 32767, 32767, 32767, 32767]
    for d in (2, 3, 4, 8):
        n = len(pcm) // d * d
        assert np.array_equal(decimate(pcm[:n], d), pcm[:n].astype(np.float64).reshape(-1, d).mean(axis=1))
