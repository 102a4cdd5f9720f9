"""Client-side echo handling: keep the assistant's own voice from reaching the server's VAD.

The loudspeaker's sound comes back into the microphone 20-200 ms later (acoustic path plus
device latency) and server VAD takes it for the user: the assistant interrupts itself. Three
modes, all 24 kHz mono int16, single-threaded (the caller serialises `far` and `near`):

- `aec`: speexdsp's adaptive echo canceller plus its residual echo suppressor, then the
  half-duplex gate applied to the canceller's *output* (a residual gate). Server VAD (Silero)
  hears speech down to about -60 dBFS whatever its level, so the 25-35 dB speexdsp removes
  is not enough on its own; the residual gate mutes what is left. Its learned echo level
  starts high (strict: nothing leaks while the canceller converges) and falls as the canceller
  converges, so a user over the echo passes once it has. A cross-correlation check catches
  echo-path changes, which look like a loud user to an energy gate. The echo delay is
  estimated (GCC-PHAT of far against microphone) and the reference pre-shifted by it, so a
  short filter (`FILTER_S`) spans the echo and re-converges quickly; when the delay moves
  (the room or the device changed) the canceller restarts and the residual gate re-learns
  its level quickly for `RELEARN_S`. When either stream's timeline skips (an underrun, a
  stall: measured on PulseAudio under load), the residual gate goes back to the raw echo
  level, as strict as half-duplex, and relaxes at its usual pace as the canceller recovers.
  The same happens when "speech" appears over the echo while the canceller's output is louder
  than its input: it is subtracting echo that is not there (a glitch the stamps did not show,
  or a filter the last double talk bent), and what comes through is echo. Speech that appears
  in a block the canceller cut by more than 9 dB is muted as echo it half-learned (a user over
  the echo dominates the block), without raising the gate's level: a user under the echo is
  heard a block or two later, once his voice dominates. The delay is not re-estimated within a
  second of double talk. These came from real-device recordings (RT_ECHO_RECORD,
  scripts/echo_replay.py). While a block is cut much less than the canceller usually cuts (a
  voice it cannot explain, a user under the gate's margin), the residual gate may not raise
  its echo level, or a user quieter than the echo would teach it his own voice and lock
  himself out (scripts/echo_sim.py: most missed barge-ins were that).
  When nothing has played within the echo hangover, the microphone passes bit-exact.
- `half-duplex`: while the far end is audible, the microphone is muted unless it is clearly
  louder than the echo expected from the far audio.
- `off`: pass-through, with stats.

Both streams are placed on one reference timeline, in samples of the stream clock: `far` gives
the DAC time of its first sample and `near` the ADC time of its first sample, so the reference
for a microphone frame is what the DAC played at that same instant, and the acoustic delay
lies inside the canceller's filter span (causal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.speexdsp import EchoCanceller, Preprocessor

MODES = ("aec", "half-duplex", "off")
HISTORY_S = 2.0  # reference kept: hangover + block + the canceller's pending frame, with room
HANGOVER_S = 0.3  # max echo delay (200 ms) + reverb tail: how long echo can follow far audio
FAR_FLOOR_DBFS = -50.0  # quieter far audio cannot make echo the VAD would take for speech
CHUNK_S = 0.01  # far energy is measured per 10 ms chunk, so one loud syllable counts
FRAME_S = 0.01  # speexdsp frame
FILTER_S = 0.12  # reverb tail + slack around the pre-shift; short filters re-converge fast
DELAY_MARGIN_S = 0.02  # the pre-shift leaves this much of the filter before the direct path
DELAY_MAX_S = 0.3  # longest echo delay the estimator searches
DELAY_WINDOW_S = 1.0  # audio the delay estimate correlates over
DELAY_EVERY_S = 0.1  # how often it re-estimates while the far end plays
DELAY_DECIMATE = 4  # 6 kHz is plenty to place a speech echo to a fraction of a millisecond
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class EchoStats:
    """A snapshot for the dashboard; plain values, safe to hand to another thread."""

    mode: str
    active: bool  # far end audible now (or within the echo hangover)
    converged: bool  # aec: the canceller removes enough echo to go without the gate
    warming_up: bool  # aec: the half-duplex gate is still applied on top
    echo_return_loss_db: float  # ERLE on echo-only blocks: mic input energy over output energy
    gated_blocks: int  # microphone blocks replaced by silence so far


class EchoProcessor(Protocol):
    mode: str

    def far(self, pcm: npt.NDArray[np.int16], t: float) -> None: ...

    def near(self, pcm: npt.NDArray[np.int16], t: float) -> npt.NDArray[np.int16]: ...

    def stats(self) -> EchoStats: ...

    def close(self) -> None:
        """Free the native state (the canceller's); the processor is not used afterwards."""
        ...


class _Anchor:
    """Maps a block's timestamp to its first sample index, keeping blocks contiguous.

    The sample count is exact and the timestamps are not: measured on PulseAudio, capture stamps
    wander by up to 8 ms over seconds and single ones are 12 ms off, while no sample is lost.
    Any step in this mapping is a step in the echo path the canceller sees, and one 5 ms step
    (re-anchoring on a lasting 5 ms disagreement, as this class once did) undid convergence on
    real devices and let the echo through mid-answer. So the anchor moves at once only for a
    real skip (a stalled, overflowed or restarted stream: stamps off by more than `JUMP_S` for
    `JUMP_BLOCKS` blocks in a row), and otherwise follows only a lasting clock drift between two
    devices: a slow mean of the disagreement, beyond `DRIFT_DEADBAND_S`, moves it by one sample
    per `DRIFT_SLIDE_S` of audio (10 samples/s, four times a 100 ppm drift), which the canceller
    tracks without noticing.
    """

    JUMP_S = 0.02
    JUMP_BLOCKS = 2
    DRIFT_TAU_S = 10.0
    DRIFT_DEADBAND_S = 0.01
    DRIFT_SLIDE_S = 0.1

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.jump = round(self.JUMP_S * rate)
        self.tau = self.DRIFT_TAU_S * rate
        self.deadband = self.DRIFT_DEADBAND_S * rate
        self.slide_every = round(self.DRIFT_SLIDE_S * rate)
        self.next: int | None = None
        self.reanchors = 0
        self.slid = 0  # samples the anchor moved to follow drift
        self.drift = 0.0  # slow mean of (stamp - count), samples
        self._strikes = 0
        self._since_slide = 0

    def place(self, t: float, n: int) -> int:
        stamped = round(t * self.rate)
        if self.next is None:
            self.next = stamped
        else:
            off = stamped - self.next
            self._strikes = self._strikes + 1 if abs(off) > self.jump else 0
            if self._strikes >= self.JUMP_BLOCKS:
                self.reanchors += 1
                self.next, self._strikes, self.drift = stamped, 0, 0.0
            elif self._strikes == 0:  # an outlier stamp says nothing about drift
                self._follow_drift(off, n)
        start = self.next
        self.next = start + n
        return start

    def _follow_drift(self, off: int, n: int) -> None:
        assert self.next is not None
        self.drift += (off - self.drift) * min(1.0, n / self.tau)
        self._since_slide = min(self._since_slide + n, self.slide_every)
        if abs(self.drift) > self.deadband and self._since_slide >= self.slide_every:
            step = 1 if self.drift > 0 else -1
            self.next += step
            self.drift -= step
            self.slid += step
            self._since_slide = 0


class _Reference:
    """A bounded ring of far samples indexed by absolute sample; unknown samples read as zeros."""

    def __init__(self, rate: int) -> None:
        self.size = round(HISTORY_S * rate)
        self.ring = np.zeros(self.size, dtype=np.int16)
        self.end: int | None = None  # one past the newest sample written

    def write(self, start: int, pcm: npt.NDArray[np.int16]) -> None:
        if len(pcm) > self.size:
            start, pcm = start + len(pcm) - self.size, pcm[-self.size:]
        if self.end is not None and start > self.end:  # a gap: what played meanwhile is silence
            gap = min(start - self.end, self.size)
            self._put(start - gap, np.zeros(gap, dtype=np.int16))
        self._put(start, pcm)
        self.end = start + len(pcm)

    def _put(self, start: int, pcm: npt.NDArray[np.int16]) -> None:
        """Write at absolute `start` with at most two slice copies (runs 50-250 times a second)."""
        i = start % self.size
        first = min(len(pcm), self.size - i)
        self.ring[i : i + first] = pcm[:first]
        self.ring[: len(pcm) - first] = pcm[first:]

    def read(self, start: int, stop: int) -> npt.NDArray[np.int16]:
        out = np.zeros(stop - start, dtype=np.int16)
        if self.end is None:
            return out
        lo, hi = max(start, self.end - self.size), min(stop, self.end)  # what the ring still holds
        if lo >= hi:
            return out
        i, n = lo % self.size, hi - lo
        first = min(n, self.size - i)
        out[lo - start : lo - start + first] = self.ring[i : i + first]
        out[lo - start + first : hi - start] = self.ring[: n - first]
        return out


def _energy(pcm: npt.NDArray[np.int16]) -> float:
    x = pcm.astype(np.float32)
    return float(np.dot(x, x)) / max(1, len(x))


def _db(ratio: float) -> float:
    return 10.0 * math.log10(max(ratio, _EPS))


def _energy_at(dbfs: float) -> float:
    """The `_energy` of a signal at `dbfs`: thresholds in dBFS, compared in int16 units."""
    return 32768.0**2 * 10 ** (dbfs / 10)


class _Gate:
    """The half-duplex decision: is this microphone block only echo of the far audio?

    The echo estimate is the loudest 10 ms of far audio over the last `HANGOVER_S` times a
    learned echo-path gain. The gain is the running 90th percentile (a stochastic quantile
    tracker, in dB) of mic/far energy over blocks that look like echo only: a high percentile
    because the estimate must bound the echo, and a tracker that ignores blocks already far
    above it, so double talk cannot teach it that the user is echo. It starts at 0 dB (echo as
    loud as the far audio), i.e. strict, and relaxes as it learns.
    """

    QUANTILE = 0.9
    STEP_DB = 1.0
    FAST_STEP_DB = 4.0  # downward step while re-learning after a path change (upward stays STEP_DB)
    MARGIN_DB = 10.0  # user speech must beat the echo estimate by this much to pass
    OPEN_HOLD_S = 0.15  # keep passing briefly after clear user speech: syllables dip
    CONFIRM_S = 0.03  # louder than the echo estimate this long before it counts as the user

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.chunk = round(CHUNK_S * rate)
        self.lookback = round(HANGOVER_S * rate)
        self.floor = _energy_at(FAR_FLOOR_DBFS)
        self.erl_db = 0.0
        self.ratio_db = 0.0
        self.open_until = -1
        self.loud_since: int | None = None
        self.confirm = round(self.CONFIRM_S * rate)
        self.active = False
        self.fast_until = -1  # until then the tracker falls by `FAST_STEP_DB` steps

    def relearn(self, until: int) -> None:
        """The echo path changed and the canceller restarted: track its level quickly for a while."""
        self.fast_until = until

    def distrust(self, level_db: float) -> None:
        """The canceller cannot be trusted for now (a stream skipped, or it slipped): assume
        echo as loud as `level_db` at once, and learn the level again at the usual pace."""
        self.erl_db = max(self.erl_db, level_db)
        self.fast_until = -1
        self.open_until = -1
        self.loud_since = None

    def far_peak(self, ref: _Reference, start: int, stop: int) -> float:
        """Loudest 10 ms chunk energy of the far audio that can still echo in [start, stop)."""
        span = ref.read(stop - self.lookback - self.chunk, stop).astype(np.float32)
        usable = len(span) // self.chunk * self.chunk
        chunks = span[len(span) - usable:].reshape(-1, self.chunk)
        return float(np.max(np.einsum("ij,ij->i", chunks, chunks))) / self.chunk

    def classify(self, near_energy: float, far_peak: float, start: int, stop: int,
                 doubt: bool = False) -> str:
        """`idle` (no far audio), `user` (clearly louder than the echo), `hold`, or `echo`.

        Only `echo` blocks teach the tracker; `hold` follows clear user speech for a moment,
        since syllables dip under the margin and double talk must not be learnt as echo.
        `doubt` says the block may hold a second voice under the margin: it may lower the
        learned level but not raise it, or a user under the margin would lock himself out.
        """
        self.active = far_peak > self.floor
        if not self.active:
            self.loud_since = None
            return "idle"
        self.ratio_db = _db(near_energy / far_peak)
        if self.ratio_db >= self.erl_db + self.MARGIN_DB:
            self.loud_since = start if self.loud_since is None else self.loud_since
            if stop - self.loud_since < self.confirm:  # a lone loud block is more likely a leak
                return "echo"
            self.open_until = stop + round(self.OPEN_HOLD_S * self.rate)
            return "user"
        self.loud_since = None
        if start < self.open_until:
            return "hold"
        if self.ratio_db <= self.erl_db:
            down = self.FAST_STEP_DB if start < self.fast_until else self.STEP_DB
            self.erl_db -= down * (1 - self.QUANTILE)
        elif not doubt:
            self.erl_db += self.STEP_DB * self.QUANTILE
        return "echo"

    def overrule(self, learn: bool = True) -> None:
        """The last `user` block was echo after all: close again, and learn its level at once
        unless `learn` is False (this block only: the next ones are judged afresh)."""
        if learn:
            self.erl_db = max(self.erl_db, self.ratio_db)
        self.open_until = -1
        self.loud_since = None


class _DelayEstimator:
    """Where the echo's direct path lies: GCC-PHAT of the far audio against the microphone.

    Over the last `DELAY_WINDOW_S` (decimated), for lags 0..`DELAY_MAX_S`. PHAT whitening makes
    the peak sharp for speech and ignores a second voice, which does not correlate with the far
    audio. Only windows where the far end was audible for at least `MIN_ACTIVE` of the time
    are used, and only peaks standing well clear of the correlation floor count. About 0.35 s
    of far speech after a change is enough (measured on the echo_sim rooms).
    """

    CONFIDENCE = 8.0  # peak over the mean |correlation|
    MIN_ACTIVE = 0.3

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.near = _Reference(rate)
        self.window = round(DELAY_WINDOW_S * rate) // DELAY_DECIMATE * DELAY_DECIMATE
        self.max_lag = round(DELAY_MAX_S * rate) // DELAY_DECIMATE * DELAY_DECIMATE
        self.every = round(DELAY_EVERY_S * rate)
        self.due = 0
        n = (self.window + self.max_lag) // DELAY_DECIMATE
        self.size = 1 << (2 * n - 1).bit_length()
        self.floor = _energy_at(FAR_FLOOR_DBFS)

    def estimate(self, ref: _Reference, stop: int) -> int | None:
        """The echo delay in samples at `stop`, or None when not due or not confident."""
        if stop < self.due:
            return None
        self.due = stop + self.every
        d = DELAY_DECIMATE
        f = ref.read(stop - self.window - self.max_lag, stop).astype(np.float64)
        f = f.reshape(-1, d).mean(axis=1)
        active = np.mean(f.reshape(-1, round(CHUNK_S * self.rate) // d) ** 2, axis=1) > self.floor / d
        if np.mean(active[-len(active) * self.window // (self.window + self.max_lag):]) < self.MIN_ACTIVE:
            return None
        m = self.near.read(stop - self.window, stop).astype(np.float64).reshape(-1, d).mean(axis=1)
        spec = np.fft.rfft(f, self.size) * np.conj(np.fft.rfft(m, self.size))
        xc = np.fft.irfft(spec / (np.abs(spec) + 1e-9), self.size)
        # near[i] = gain * far[i + max_lag - lag]: the correlation at shift max_lag - lag
        by_lag = xc[: self.max_lag // d + 1][::-1]
        peak = int(np.argmax(by_lag))
        if by_lag[peak] < self.CONFIDENCE * float(np.mean(np.abs(by_lag))):
            return None
        return peak * d


class _Base:
    """The shared timeline and gate; subclasses decide what a microphone block becomes."""

    mode = "off"

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._far_anchor = _Anchor(rate)
        self._near_anchor = _Anchor(rate)
        self._ref = _Reference(rate)
        self._gate = _Gate(rate)
        self.gated_blocks = 0
        self._far_peak = 0.0
        self._near_energy = 0.0  # of the last microphone block classified

    def far(self, pcm: npt.NDArray[np.int16], t: float) -> None:
        """Record what reaches the DAC at `t`; call for silence too, so gaps are known."""
        self._ref.write(self._far_anchor.place(t, len(pcm)), np.asarray(pcm, dtype=np.int16))

    def near(self, pcm: npt.NDArray[np.int16], t: float) -> npt.NDArray[np.int16]:
        pcm = np.asarray(pcm, dtype=np.int16)
        start = self._near_anchor.place(t, len(pcm))
        return self._process(pcm, start, start + len(pcm))

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        self._gate.active = self._gate.far_peak(self._ref, start, stop) > self._gate.floor
        return pcm

    def _classify(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> str:
        self._far_peak = self._gate.far_peak(self._ref, start, stop)
        self._near_energy = _energy(pcm)
        return self._gate.classify(self._near_energy, self._far_peak, start, stop)

    def stats(self) -> EchoStats:
        return EchoStats(mode=self.mode, active=self._gate.active, converged=False, warming_up=False,
                         echo_return_loss_db=0.0, gated_blocks=self.gated_blocks)

    def close(self) -> None:
        """Release native state, if any."""


class PassThrough(_Base):
    mode = "off"


class HalfDuplex(_Base):
    mode = "half-duplex"

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        if self._classify(pcm, start, stop) == "echo":
            self.gated_blocks += 1
            return np.zeros_like(pcm)
        return pcm


class SpeexAec(_Base):
    """speexdsp echo canceller + residual suppressor + residual gate.

    `converged`/ERLE are for the dashboard (mic input over output energy on echo-only
    blocks, a canceller that still diverges reads low); the muting decision is the gate's.

    The output lags the input by one 10 ms frame (the preprocessor's overlap-add), plus, for
    blocks that are not whole 10 ms frames, a constant < 10 ms of buffering set by the first
    block; output length always equals input length.
    """

    mode = "aec"
    CONVERGED_DB = 12.0  # ERLE to report convergence
    DIVERGED_DB = 6.0  # ERLE to report warming up again (the room or the device changed)
    ERLE_TAU_S = 0.5
    MIN_LEARN_S = 0.5  # echo-only audio needed before the ERLE estimate means anything
    RELEARN_S = 2.0  # after a path change the residual gate tracks the canceller quickly this long
    SLIP_DB = 0.5  # canceller output this much louder than its input at speech onset: a slip
    ONSET_MAX_CUT_DB = 9.0  # a user over the echo dominates the block: the canceller cuts it less
    ECHO_CORRELATION = 0.5  # measured: user voice <= 0.55, echo after a path change 0.5-0.8
    DEPTH_STEP_DB = 0.3  # the depth tracker's step: a median that follows in seconds, not blocks
    DOUBT_DB = 9.0  # a block the canceller cuts this much less than usual may hold a second voice
    DOUBT_FLOOR_DBFS = -45.0  # quieter blocks are room noise, which no canceller removes
    SLIP_MEMORY_S = 0.5  # a canceller that added energy this recently explains nothing

    def __init__(self, rate: int, *, filter_s: float = FILTER_S, echo_suppress_db: int = -40,
                 echo_suppress_active_db: int = -15, residual_gate: bool = True) -> None:
        """`residual_gate=False` leaves only speexdsp: for measuring the canceller on its own."""
        super().__init__(rate)
        self.residual_gate = residual_gate
        self.frame = round(FRAME_S * rate)
        self._aec = EchoCanceller(self.frame, round(filter_s * rate), rate)
        self._pre = Preprocessor(self.frame, rate, echo=self._aec, echo_suppress_db=echo_suppress_db,
                                 echo_suppress_active_db=echo_suppress_active_db)
        self._pending_near = np.zeros(0, dtype=np.int16)
        self._pending_ref = np.zeros(0, dtype=np.int16)
        self._out = np.zeros(0, dtype=np.int16)
        self._in_energy = 0.0  # smoothed over echo-only blocks
        self._out_energy = 0.0
        self._learned = 0
        self.converged = False
        self._residual = _Gate(rate)  # the same gate on the canceller's output
        self._xcorr_len = round(0.1 * rate)
        self._recent = np.zeros(0, dtype=np.int16)
        self._delay = _DelayEstimator(rate)
        self.delay: int | None = None  # estimated echo delay (samples)
        self.shift = 0  # the reference is read this many samples earlier: delay - margin
        self.path_changes = 0
        self._jumps = 0  # anchor jumps seen so far, both streams
        self._passing = False  # the last block passed as the user's (double talk)
        self._passed_at = -(1 << 62)  # end of the last such block (sample)
        self._gain_db = 0.0  # output over input energy of the last frames the canceller ran
        self._depth_db = 0.0  # running median of that gain while the far end plays
        self._slipped_at = -(1 << 62)  # end of the last block the canceller added energy to
        self._doubt_floor = _energy_at(self.DOUBT_FLOOR_DBFS)

    def _track_delay(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> None:
        """Re-estimate the echo delay; when it moved, pre-shift the reference and re-learn."""
        self._delay.near.write(start, pcm)
        if stop - self._passed_at < self._delay.window:  # a second voice in the window would
            return  # correlate with the far audio by chance: a wrong delay, a needless reset
        delay = self._delay.estimate(self._ref, stop)
        if delay is None or (self.delay is not None and abs(delay - self.delay) <= self.frame // 2):
            return
        changed = self.delay is not None  # the first estimate is learning, not a change
        if changed:
            self.path_changes += 1
        self.delay = delay
        shift = max(0, delay - round(DELAY_MARGIN_S * self.rate))
        if shift != self.shift:
            self.shift = shift
            self._aec.reset()
            if changed:  # the gate's echo level was learned on the old path: let it fall fast
                self._residual.relearn(stop + round(self.RELEARN_S * self.rate))

    def _doubt(self, stop: int) -> bool:
        """May this block hold a second voice? A converged canceller cuts echo-only blocks by
        `_depth_db` (a running median); one it cuts by `DOUBT_DB` less holds sound the far audio
        does not explain, a user under the gate's margin. Not when the canceller itself slipped
        lately (it added energy: its output is echo it got wrong), nor in room noise. Call once
        per block over far audio: it also moves the median and the slip memory."""
        if self._near_energy < self._doubt_floor:
            return False
        if self._gain_db > self.SLIP_DB:
            self._slipped_at = stop
        doubt = self._gain_db > self._depth_db + self.DOUBT_DB and \
            stop - self._slipped_at > self.SLIP_MEMORY_S * self.rate
        self._depth_db += self.DEPTH_STEP_DB * (0.5 if self._gain_db > self._depth_db else -0.5)
        return doubt

    def _skipped(self) -> bool:
        """Did either stream's timeline just jump (a stall, an underrun, a restarted stream)?
        The far audio then lines up with the echo differently, whatever the stamps say."""
        jumps = self._far_anchor.reanchors + self._near_anchor.reanchors
        skipped, self._jumps = jumps != self._jumps, jumps
        return skipped

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        raw = self._classify(pcm, start, stop)
        if self._skipped():  # back to half-duplex strictness until the canceller re-converges
            self._residual.distrust(self._gate.erl_db)
        self._track_delay(pcm, start, stop)
        out = self._cancel_block(pcm, start, stop)
        if raw == "idle":  # nothing played within the echo hangover: the user, untouched
            self._passing = False
            return pcm
        residual = self._residual.classify(_energy(out), self._far_peak, start, stop, self._doubt(stop))
        if residual == "user" and raw != "user" and not self._passing:
            if self._gain_db > self.SLIP_DB:
                # Speech appears over the echo, yet the canceller adds energy: it subtracts echo
                # that is not there, its reference no longer lines up (a playback or capture
                # glitch the stamps did not show). This is echo it misses, not the user.
                self._residual.overrule()
                self._residual.distrust(self._gate.erl_db)
                residual = "echo"
            elif self._gain_db < -self.ONSET_MAX_CUT_DB:
                # mostly echo, removed but for a part it had not learned; or a user under the
                # echo whose onset it still cuts: mute this block only, judge the next afresh
                self._residual.overrule(learn=False)
                residual = "echo"
        if residual == "user" and raw != "user" and self._correlates_with_far(stop - len(self._pending_near)):
            self._residual.overrule()  # the echo path changed: this is echo the filter missed
            residual = "echo"
        self._passing = residual in ("user", "hold")
        if self._passing:
            self._passed_at = stop
        if raw == "echo" and residual == "echo":
            self._learn(pcm, out)
        if residual == "echo" and self.residual_gate:
            self.gated_blocks += 1
            return np.zeros_like(out)
        return out

    def _cancel_block(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        """Run whole 10 ms frames; the output keeps the block's length behind a fixed lag."""
        self._pending_near = np.concatenate([self._pending_near, pcm])
        ref = self._ref.read(start - self.shift, stop - self.shift)
        self._pending_ref = np.concatenate([self._pending_ref, ref])
        whole = len(self._pending_near) // self.frame * self.frame
        linear = [self._aec.cancel(self._pending_near[i:i + self.frame], self._pending_ref[i:i + self.frame])
                  for i in range(0, whole, self.frame)]
        if linear:
            ran = np.concatenate(linear)
            self._recent = np.concatenate([self._recent, ran])[-self._xcorr_len:]
            # the canceller's gain over the frames just run: > 0 dB means it added energy
            self._gain_db = _db((_energy(ran) + 1.0) / (_energy(self._pending_near[:whole]) + 1.0))
        self._out = np.concatenate([self._out, *(self._pre.run(x) for x in linear)])
        self._pending_near, self._pending_ref = self._pending_near[whole:], self._pending_ref[whole:]
        n = len(pcm)
        if len(self._out) < n:  # only until the lag settles: at most one frame, once
            self._out = np.concatenate([np.zeros(n - len(self._out), dtype=np.int16), self._out])
        out, self._out = self._out[:n], self._out[n:]
        return out

    def _correlates_with_far(self, stop: int) -> bool:
        """Is the recent output a delayed copy of the far audio (echo), not a second voice?

        Energy alone cannot tell a changed echo path from a user as loud as the echo; the
        shape can: normalised cross-correlation of the canceller's last 100 ms of linear output
        (before the non-linear suppressor, which distorts the residual), ending at sample
        `stop`, with the far audio over every lag the echo can have. Only runs when the
        energies disagree.
        """
        return self._far_correlation(stop) >= self.ECHO_CORRELATION

    def _far_correlation(self, stop: int) -> float:
        e = self._recent.astype(np.float64)
        f = self._ref.read(stop - len(e) - self._gate.lookback, stop).astype(np.float64)
        size = 1 << (len(f) + len(e) - 1).bit_length()
        xc = np.fft.irfft(np.fft.rfft(f, size) * np.conj(np.fft.rfft(e, size)), size)[: len(f) - len(e) + 1]
        power = np.concatenate([[0.0], np.cumsum(f * f)])
        window = power[len(e):] - power[: len(f) - len(e) + 1]
        norm = np.sqrt(window * float(np.dot(e, e))) + 1.0
        return float(np.max(np.abs(xc) / norm))

    def _learn(self, rec: npt.NDArray[np.int16], out: npt.NDArray[np.int16]) -> None:
        """Track ERLE on echo-only audio: double talk would read as the canceller failing."""
        alpha = min(1.0, len(rec) / (self.ERLE_TAU_S * self.rate))
        self._in_energy += alpha * (_energy(rec) - self._in_energy)
        self._out_energy += alpha * (_energy(out) - self._out_energy)
        self._learned += len(rec)
        if self._learned < self.MIN_LEARN_S * self.rate:
            return
        erle = self.erle_db()
        if erle >= self.CONVERGED_DB:
            self.converged = True
        elif erle < self.DIVERGED_DB:
            self.converged = False

    def erle_db(self) -> float:
        if self._learned == 0:
            return 0.0
        return _db((self._in_energy + 1.0) / (self._out_energy + 1.0))

    def stats(self) -> EchoStats:
        return EchoStats(mode=self.mode, active=self._gate.active, converged=self.converged,
                         warming_up=not self.converged, echo_return_loss_db=round(self.erle_db(), 1),
                         gated_blocks=self.gated_blocks)

    def close(self) -> None:
        """Free the native state; the preprocessor first, as it points into the canceller."""
        self._pre.close()
        self._aec.close()


def make_echo(mode: str, rate: int = 24_000) -> EchoProcessor:
    """The echo processor for `mode`; `aec` raises `AudioDeviceError` without libspeexdsp."""
    if mode == "aec":
        return SpeexAec(rate)
    if mode == "half-duplex":
        return HalfDuplex(rate)
    if mode == "off":
        return PassThrough(rate)
    raise ValueError(f"unknown echo mode {mode!r}: choose one of {', '.join(MODES)}")
