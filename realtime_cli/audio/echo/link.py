"""EchoLink: carries what the speaker played to the microphone's echo processor.

The canceller needs the far end exactly as the device played it, stamped with the time it
reached the DAC, and it must run on one thread. So the speaker's PortAudio callback only appends
(block, DAC time) to a deque (`played`, a copy and an append: no lock, nothing to wait on), and
the microphone's loop-side block handler calls `clean`, which drains the deque, brings the blocks
to 24 kHz (one streaming soxr resampler, the same "LQ" 4 ms delay the capture side has, so the
two cancel out) and feeds them to the processor before processing the captured block. A flush
that drops the device's buffer queues a mark (`dropped`) in the same deque, so the processor
learns, in order, where the played audio stopped.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.convert import Resampler
from realtime_cli.audio.echo.interface import EchoProcessor, EchoStats
from realtime_cli.audio.pcm import SAMPLE_RATE

Int16Array = npt.NDArray[np.int16]

MAX_PENDING = 800  # speaker blocks held while the microphone lags (16 s of 20 ms blocks)


class EchoLink:
    def __init__(self, processor: EchoProcessor) -> None:
        self.processor = processor
        self._played: deque[tuple[Int16Array | None, float]] = deque(maxlen=MAX_PENDING)
        self._resampler: Resampler | None = None
        self._wants_far = processor.mode != "off"  # headphones: nothing to copy or resample

    @property
    def mode(self) -> str:
        return self.processor.mode

    def output_rate(self, rate: int) -> None:
        """The speaker's device rate, set when it opens (before its first callback)."""
        self._resampler = Resampler(rate, SAMPLE_RATE)

    def played(self, block: Int16Array, dac_time: float) -> None:
        """PortAudio output thread: one mono block at the device rate, as handed to the DAC."""
        if self._wants_far:
            self._played.append((block.copy(), dac_time))

    def dropped(self, t: float) -> None:
        """Loop thread, the speaker's stream stopped: what it was handed for `t` on never played."""
        if self._wants_far:
            self._played.append((None, t))

    def clean(self, pcm: Int16Array, adc_time: float) -> Int16Array:
        """Loop thread: 24 kHz mono microphone audio (first sample at `adc_time`), echo handled."""
        played, resampler = self._played, self._resampler
        while played:
            block, when = played.popleft()
            if block is None:
                self.processor.dropped(when)
                continue
            far = resampler.feed(block) if resampler is not None else block
            if far.size:
                self.processor.far(far, when)
        return self.processor.near(pcm, adc_time)

    def stats(self) -> EchoStats:
        return self.processor.stats()

    def close(self) -> None:
        self._played.clear()
        self.processor.close()
