"""`speex` and `aec3`: a canceller, then the half-duplex gate on what it leaves (the residual gate).

Per microphone block: the raw gate says whether the far end is audible and how loud the echo
path is; the delay tracker keeps the reference pre-shifted; the canceller runs; the residual
gate, with the double-talk checks, decides whether what is left is the user or echo.

The residual gate's learned echo level starts high (strict: nothing leaks while the canceller
converges) and falls as the canceller converges, so a user over the echo passes once it has.
When the delay moves (the room or the device changed) the canceller restarts, and the residual
gate goes back to the raw echo level, as strict as half-duplex, then re-learns its level quickly
for `RELEARN_S`: the level it had was learned on the converged canceller, and a restarted one
lets echo through in bursts (AEC3 cut a new path's echo by 30-40 dB, then by 3 dB 0.6 s later,
in a real-device recording). When either stream's timeline skips (an underrun, a stall: measured
on PulseAudio under load), the residual gate goes back to the raw echo level too, and relaxes at
its usual pace as the canceller recovers.
When nothing has played within the echo hangover, the microphone passes bit-exact. Each new
answer (far audio after `NEW_ANSWER_S` of none) starts at the raw level too, and gets the level
learnt on the last answer back once the canceller cuts this answer's echo about as well: the path
can move between answers while the canceller has nothing to adapt on.
After a barge-in the speaker's stream restarts, and its stamps then settle for seconds (they
moved 2.4 ms against the sample count in the 2.6 s after one restart, on PulseAudio): the echo path
the canceller sees moves by a millisecond or two, inside the delay tracker's tolerance. AEC3 cut
the first 300 ms of the next answer as well as ever, then let its echo through for 150 ms while
it re-aligned, 450 ms in. So for `RESTART_WATCH_S` after that answer's first sound, speech that
appears over the echo must be at least as loud as the echo path makes the far audio (within
`UNDER_ECHO_DB`): the user adds his voice to the echo, a canceller that lost it adds nothing.

The canceller is speexdsp (`SpeexAec`) or WebRTC's AEC3 (`Aec3`, `webrtc`); `modes` says which
one `aec` means.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.canceller import FILTER_S, FramedCanceller, WholeFrames
from realtime_cli.audio.echo.convergence import ConvergenceMeter
from realtime_cli.audio.echo.delay import DelayTracker, Shift
from realtime_cli.audio.echo.double_talk import DoubtTracker, Onset, correlates_with_far, judge_onset
from realtime_cli.audio.echo.energy import db, energy
from realtime_cli.audio.echo.gate import EchoGate
from realtime_cli.audio.echo.half_duplex import TimelineProcessor
from realtime_cli.audio.echo.interface import EchoStats

RELEARN_S = 2.0  # after a path change the residual gate tracks the canceller quickly this long
SLIP_FORGIVEN_DB = 2.0  # a user's first syllable bends the filter this little (0.6 dB recorded)
SLIP_MIN_DB = 15.0  # a slip adds at least the echo path's level less this; less is noise...
RELIED_ON_DB = 6.0  # ... once the residual gate relies on the canceller by this much
SLIP_AGAIN_S = 0.1  # speech this soon after a slip is echo the canceller gets wrong
BENT_S = 0.5  # a filter the user's voice bent slips on the echo this long after he stops
NEW_ANSWER_S = 0.5  # far audio after this long without any is a new answer: trust is re-earned
SHOWN_DB = 5.0  # ... by echo blocks cut to within this of the level learnt on the last answer
SHOWN_BLOCKS = 3  # ... this many in a row
PRESENT_DB = 6.0  # a block counts when its echo is within this of the echo path's level
RESTART_WATCH_S = 1.0  # after a barge-in, the next answer's first second is watched (re-alignment)
UNDER_ECHO_DB = 6.0  # ... for speech onsets this much quieter than the raw echo level (leaks)
OVER_ECHO_DB = 3.0  # a block this much louder than the raw echo level holds a voice, however
#                     much of the far audio the canceller's output still carries (see _second_look)


class CancellingAec(TimelineProcessor):
    """A canceller + residual gate; output length always equals input length."""

    def __init__(self, rate: int, canceller: WholeFrames, *, residual_gate: bool = True,
                 mode: str | None = None) -> None:
        """`residual_gate=False` leaves only the canceller: for measuring it on its own. `mode`
        names the processor when it stands for another name (`aec`)."""
        super().__init__(rate)
        if mode is not None:
            self.mode = mode
        self.residual_gate = residual_gate
        self._canceller = canceller
        self._convergence = ConvergenceMeter(rate)
        self._residual = EchoGate(rate)  # the same gate on the canceller's output
        self._delay = DelayTracker(rate, self._canceller.frame)
        self._doubt = DoubtTracker(rate)
        self._jumps = 0  # anchor jumps seen so far, both streams
        self._passing = False  # the last block passed as the user's (double talk)
        self._passed_at = -(1 << 62)  # end of the last such block (sample)
        self._slipped_at = -(1 << 62)  # end of the last block over far audio it clearly slipped on
        self._forgiven_at = -(1 << 62)  # end of the last onset block a slight slip was forgiven
        self._bent = round(BENT_S * rate)
        self._far_heard_at = -(1 << 62)  # end of the last block the far end was audible in
        self._new_answer = round(NEW_ANSWER_S * rate)
        self._earned: float | None = None  # a new answer's level to restore once re-earned
        self._shown = 0  # echo blocks in a row the canceller cut that well
        self._shown_db = -90.0  # the least cut echo block of this answer (residual over far, dB)
        self._restart_from: int | None = None  # the speaker's stream restarted: its first sample
        self._watch_until = -(1 << 62)  # ... and its first answer's first second ends here

    @property
    def delay(self) -> int | None:
        """The estimated echo delay, samples."""
        return self._delay.delay

    @property
    def shift(self) -> int:
        """The reference is read this many samples earlier: delay - margin."""
        return self._delay.shift

    @property
    def path_changes(self) -> int:
        return self._delay.path_changes

    def dropped(self, t: float) -> None:
        super().dropped(t)
        self._restart_from = self._ref.end

    def _restarted_audio(self) -> bool:
        """Has the speaker played sound since its stream restarted (its echo may be in reach)?"""
        start, sound_end = self._restart_from, self._ref.sound_end
        return start is not None and sound_end is not None and sound_end > start

    def _skipped(self) -> bool:
        """Did either stream's timeline just jump (a stall, an underrun, a restarted stream)?
        The far audio then lines up with the echo differently, whatever the stamps say."""
        jumps = self._far_anchor.reanchors + self._near_anchor.reanchors
        skipped, self._jumps = jumps != self._jumps, jumps
        return skipped

    def _process(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> npt.NDArray[np.int16]:
        raw_level = self._gate.erl_db  # the echo path's level before this block taught it
        raw = self._classify(pcm, start, stop)
        if self._skipped():  # back to half-duplex strictness until the canceller re-converges
            self._residual.distrust(self._gate.erl_db)
            self._earned = None
        if raw != "idle":
            if stop - self._far_heard_at > self._new_answer:
                # The first echo of an answer finds the filter where the last answer left it, but
                # the path may have moved meanwhile with nothing to adapt on: timestamps that drift
                # against the audio (36 ppm on PulseAudio) moved it 0.3-0.5 ms between answers in
                # a real-device run, the canceller then cut the onset by 2-4 dB instead of 20, and
                # the level learnt on the last answer let that through. So the raw level holds
                # until the canceller shows, on this answer's echo, that it cuts as well as then.
                self._earned = self._residual.erl_db
                self._shown, self._shown_db = 0, -90.0
                self._residual.distrust(self._gate.erl_db)
            if self._restarted_audio():  # the path may be a few ms off: watch the onsets
                self._restart_from = None
                self._watch_until = stop + round(RESTART_WATCH_S * self.rate)
            self._far_heard_at = stop
        self._follow_delay(pcm, start, stop)
        shift = self._delay.shift
        # The canceller runs in the pauses too: resting it there (no call while only silence
        # is in its reach) cost speexdsp 2-4 of 214-250 simulated barge-ins (why was not
        # studied), for a CPU saving `make bench` could not show.
        out = self._canceller.run(pcm, self._ref.read(start - shift, stop - shift))
        if raw == "idle":  # nothing played within the echo hangover: the user, untouched
            self._passing = False
            return pcm
        if self._canceller.gain_db > SLIP_FORGIVEN_DB and stop - self._passed_at > self._bent \
                and (self._added_db() > self._gate.erl_db - SLIP_MIN_DB or not self._relied_on()):
            self._slipped_at = stop  # louder out than in, nobody talking lately: echo it got wrong
        doubt = self._doubt.doubt(self._near_energy, self._canceller.gain_db, stop)
        residual = self._residual.classify(energy(out), self._far_peak, start, stop, doubt)
        if self._earned is not None:
            self._earn_back(raw)
        if residual == "user" and raw != "user":
            residual = self._second_look(stop)
        self._passing = residual in ("user", "hold")
        if self._passing:
            self._passed_at = stop
            # A voice the raw gate could not tell from echo (under its margin) is no lesson about
            # the echo path: learnt, it raised that level by 1 dB a block, and a user over the
            # echo fell under it (and under `OVER_ECHO_DB`) within 0.2 s.
            self._gate.erl_db = min(self._gate.erl_db, raw_level)
        if raw == "echo" and residual == "echo":
            self._convergence.learn(pcm, out)
        if residual == "echo" and self.residual_gate:
            self.gated_blocks += 1
            return np.zeros_like(out)
        return out

    def _added_db(self) -> float:
        """What the canceller added to the block, in dB over the far audio's peak."""
        added = self._near_energy * (10 ** (self._canceller.gain_db / 10) - 1)
        return db(added / max(self._far_peak, 1.0))

    def _relied_on(self) -> bool:
        """Has the canceller shown, on this answer and path, that it cuts the echo? Then the
        residual gate's level is well under the raw echo path's."""
        return self._residual.erl_db < self._gate.erl_db - RELIED_ON_DB

    def _earn_back(self, raw: str) -> None:
        """Count the new answer's echo blocks cut to near the last answer's level; blocks where
        the echo has not arrived (far quieter than its level) say nothing either way."""
        assert self._earned is not None
        if raw != "echo" or self._gate.ratio_db < self._gate.erl_db - PRESENT_DB:
            return
        self._shown_db = max(self._shown_db, self._residual.ratio_db)
        if self._residual.ratio_db > self._earned + SHOWN_DB:
            self._shown = 0
            return
        self._shown += 1
        if self._shown >= SHOWN_BLOCKS:  # back to that level, or to the worst it let through
            self._residual.trust(max(self._earned, self._shown_db))  # on this answer, if worse
            self._earned = None

    def _follow_delay(self, pcm: npt.NDArray[np.int16], start: int, stop: int) -> None:
        """Re-estimate the echo delay; when the pre-shift moves, restart the canceller on it."""
        moved = self._delay.follow(self._ref, pcm, start, stop, self._passed_at)
        if moved is None:
            return
        self._canceller.reset()
        self._earned = None  # a level learnt on the old path is not to be restored
        if moved is Shift.MOVED:  # the gate's echo level was learned on the old canceller: strict
            self._residual.distrust(self._gate.erl_db)  # again, then falling fast as it re-converges
            self._residual.relearn(stop + round(RELEARN_S * self.rate))

    def _second_look(self, stop: int) -> str:
        """The residual gate hears the user where the raw gate heard only echo: `user`, or `echo`
        when a double-talk check says the canceller got the echo wrong."""
        if not self._passing:  # speech onset: the user was not already talking
            onset = judge_onset(self._canceller.gain_db)
            recent = round(SLIP_AGAIN_S * self.rate)
            slipped = stop - self._slipped_at <= recent  # this block included, when clearly
            if slipped or onset is Onset.SLIPPED:
                if slipped or stop - self._forgiven_at <= recent:
                    # echo it misses: as strict as the raw gate until it recovers
                    self._residual.overrule()
                    self._residual.distrust(self._gate.erl_db)
                else:  # once may be a user's first syllable bending the filter: this block only
                    self._forgiven_at = stop
                    self._residual.overrule(learn=False)
                return "echo"
            quiet = stop < self._watch_until and \
                self._gate.ratio_db < self._gate.erl_db - UNDER_ECHO_DB
            if onset is Onset.HALF_LEARNED or quiet:  # mute this block only, judge the next afresh
                self._residual.overrule(learn=False)
                return "echo"
        if self._gate.ratio_db >= self._gate.erl_db + OVER_ECHO_DB:
            # More than the echo path can make of this far audio: a voice is in it. A user who
            # starts talking as an answer begins meets a filter still finding this answer's path,
            # whose output carries the far audio too (correlation 0.50-0.64 with it, at 4-8 dB
            # over the raw echo level, in the 14 such verdicts of two real-device runs); the check
            # below took him for echo and taught the residual gate his level: 9 of their 11
            # missed barge-ins. The echo it rightly caught there was at most 0.8 dB over it.
            return "user"
        recent_end = stop - self._canceller.pending
        if correlates_with_far(self._canceller.recent, self._ref, recent_end, self._gate.lookback):
            self._residual.overrule()  # the echo path changed: this is echo the filter missed
            return "echo"
        return "user"

    def erle_db(self) -> float:
        return self._convergence.erle_db()

    def stats(self) -> EchoStats:
        converged = self._convergence.converged
        return EchoStats(mode=self.mode, active=self._gate.active, converged=converged,
                         warming_up=not converged, echo_return_loss_db=round(self.erle_db(), 1),
                         gated_blocks=self.gated_blocks)

    def close(self) -> None:
        """Free the native state."""
        self._canceller.close()


class SpeexAec(CancellingAec):
    """speexdsp echo canceller + residual suppressor + residual gate. The output lags the input
    by one 10 ms frame, as `canceller` explains."""

    mode = "speex"

    def __init__(self, rate: int, *, filter_s: float = FILTER_S, echo_suppress_db: int = -40,
                 echo_suppress_active_db: int = -15, residual_gate: bool = True,
                 mode: str | None = None) -> None:
        super().__init__(rate, FramedCanceller(rate, filter_s=filter_s, echo_suppress_db=echo_suppress_db,
                                               echo_suppress_active_db=echo_suppress_active_db),
                         residual_gate=residual_gate, mode=mode)


class Aec3(CancellingAec):
    """WebRTC AEC3 (its own suppressor included) + residual gate. Blocks of whole 10 ms frames
    pass without lag; others lag by a constant < 10 ms set by the first block."""

    mode = "aec3"

    def __init__(self, rate: int, *, residual_gate: bool = True, mode: str | None = None) -> None:
        from realtime_cli.audio.echo.webrtc import Aec3Canceller

        super().__init__(rate, Aec3Canceller(rate), residual_gate=residual_gate, mode=mode)
