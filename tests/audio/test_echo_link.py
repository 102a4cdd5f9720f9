"""EchoLink without devices: what the speaker callback hands over reaches the processor as
24 kHz far audio with its DAC times, before the microphone block it may echo in. The real
thing, on PortAudio streams through a simulated room, is tests/audio/test_echo_devices.py."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo import EchoStats, make_echo
from realtime_cli.audio.echo.link import EchoLink


class Recorder:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls: list[tuple[str, int, float]] = []

    def far(self, pcm: npt.NDArray[np.int16], t: float) -> None:
        self.calls.append(("far", len(pcm), t))

    def dropped(self, t: float) -> None:
        self.calls.append(("dropped", 0, t))

    def near(self, pcm: npt.NDArray[np.int16], t: float) -> npt.NDArray[np.int16]:
        self.calls.append(("near", len(pcm), t))
        return pcm // 2

    def stats(self) -> EchoStats:
        return EchoStats(self.mode, False, False, False, 0.0, 0)

    def close(self) -> None:
        self.calls.append(("close", 0, 0.0))


def test_played_blocks_reach_the_processor_resampled_and_before_the_microphone() -> None:
    rec = Recorder("aec")
    link = EchoLink(rec)
    link.output_rate(48_000)
    tone = (np.sin(np.arange(480 * 20) / 7) * 8000).astype(np.int16)
    for k in range(20):  # 20 blocks of 10 ms at 48 kHz, as the speaker callback hands them
        link.played(tone[k * 480 : (k + 1) * 480], 100.0 + k * 0.01)
    mic = np.full(480, 1000, dtype=np.int16)
    out = link.clean(mic, 100.2)
    assert out.tolist() == (mic // 2).tolist()  # the processor's output is what is sent
    far = [c for c in rec.calls if c[0] == "far"]
    assert rec.calls[-1] == ("near", 480, 100.2) and len(far) == len(rec.calls) - 1
    assert 4800 - 240 <= sum(n for _, n, _ in far) <= 4800  # 200 ms at 24 kHz (soxr holds ~4 ms)
    assert [t for *_, t in far] == sorted(t for *_, t in far) and far[0][2] >= 100.0
    assert link.clean(mic, 100.22) is not None and rec.calls[-1][0] == "near"  # drained: no far
    link.close()
    assert rec.calls[-1][0] == "close"


def test_a_drop_reaches_the_processor_between_the_blocks_it_separates() -> None:
    rec = Recorder("aec")
    link = EchoLink(rec)
    link.output_rate(24_000)
    link.played(np.ones(480, dtype=np.int16), 1.0)
    link.dropped(1.01)  # a flush: the stream was aborted there, and restarted
    link.played(np.ones(480, dtype=np.int16), 1.15)
    link.clean(np.ones(480, dtype=np.int16), 1.2)
    assert [(kind, t) for kind, _, t in rec.calls] == [("far", 1.0), ("dropped", 1.01), ("far", 1.15),
                                                       ("near", 1.2)]


def test_headphones_cost_nothing_on_the_speaker_side() -> None:
    rec = Recorder("off")
    link = EchoLink(rec)
    link.output_rate(24_000)
    link.played(np.ones(120, dtype=np.int16), 1.0)
    link.clean(np.ones(480, dtype=np.int16), 1.0)
    assert [c[0] for c in rec.calls] == ["near"]
    assert EchoLink(make_echo("off")).stats().mode == "off"
