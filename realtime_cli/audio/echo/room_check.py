"""What a test-signal recording (`path_probe.Recording`) says about a room and its devices, and
which echo mode suits it: the figures and the verdict of `rt doctor`.

The echo path is found by GCC-PHAT of the recording against the signal over every lag the
recording allows, placed on the stream clock with both streams' timestamps (so the delay is
the whole path from rt's DAC to its ADC, what the echo processors see). Its level is the
echo's energy over the signal's. Each canceller then runs on the recording exactly as in
`rt talk` (same timestamps, 20 ms blocks), once alone and once as the whole mode, over the
last second of the signal, after it had two seconds to converge.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.energy import db
from realtime_cli.audio.echo.path_probe import LEAD_S, RATE, SIGNAL_S, Recording
from realtime_cli.audio.options import OUTPUT_BLOCK

BLOCK = 480  # 20 ms, as rt talk's microphone
CHUNK = 240  # levels are the loudest 10 ms, as the echo gate measures them
VAD_HEARS_DBFS = -55.0  # the server's VAD takes speech-like sound from about -60 dBFS; 5 dB margin
CLIPPED = 32767
CLIPPING_PCT = 0.1  # more clipped samples than this: the echo path is not linear, no canceller copes
LOUD_ECHO_DB = 0.0  # echo as loud as what played: the microphone sits against the speaker
MIN_REDUCTION_DB = 15.0  # a canceller alone that removes less has not found the echo
CONFIDENCE = 8.0  # correlation peak over its mean: below, no echo path was found
MEASURE_S = 1.0  # the cancellers are judged over the signal's last second
MODES = ("speex", "aec3", "half-duplex")


@dataclass(frozen=True, slots=True)
class CancellerResult:
    mode: str
    available: bool
    alone_reduction_db: float | None  # the canceller without its residual gate
    echo_left_dbfs: float | None  # loudest 10 ms the whole mode lets through while the signal plays
    note: str = ""


@dataclass(frozen=True, slots=True)
class RoomReport:
    noise_floor_dbfs: float
    clipped_pct: float
    peak_dbfs: float
    echo_found: bool
    echo_delay_ms: float | None
    echo_level_db: float | None  # echo energy over the signal's, dB
    echo_peak_dbfs: float  # loudest 10 ms of the microphone while the signal plays
    output_latency_ms: float
    input_latency_ms: float
    underflows: int
    cancellers: tuple[CancellerResult, ...]
    verdict: str
    echo_mode: str
    output_block_ms: float
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cancellers"] = [{k: _finite(v) for k, v in asdict(c).items()} for c in self.cancellers]
        data["reasons"] = list(self.reasons)
        return {k: _finite(v) for k, v in data.items()}


def _finite(value: Any) -> Any:
    """JSON has no -inf: digital silence (a canceller that lets nothing through) is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def dbfs(energy: float) -> float:
    return -math.inf if energy <= 0 else db(energy / 32768.0**2)


def loudest(pcm: npt.NDArray[np.int16]) -> float:
    """Energy of the loudest 10 ms chunk."""
    usable = len(pcm) // CHUNK * CHUNK
    if usable == 0:
        return 0.0
    chunks = pcm[:usable].astype(np.float64).reshape(-1, CHUNK)
    return float(np.max(np.mean(chunks * chunks, axis=1)))


def mean_energy(pcm: npt.NDArray[np.int16]) -> float:
    return float(np.mean(pcm.astype(np.float64) ** 2)) if len(pcm) else 0.0


def find_delay(far: npt.NDArray[np.int16], near: npt.NDArray[np.int16]) -> int | None:
    """Samples from far's index to near's index of the same sound (near[i + lag] ~ far[i]), or
    None when no correlation peak stands clear of the floor."""
    f, m = far.astype(np.float64), near.astype(np.float64)
    size = 1 << (len(f) + len(m) - 1).bit_length()
    spec = np.fft.rfft(m, size) * np.conj(np.fft.rfft(f, size))
    xc = np.fft.irfft(spec / (np.abs(spec) + 1e-9), size)
    lags = np.concatenate([xc[size - len(f) + 1:], xc[: len(m)]])  # lag -(len(f)-1) .. len(m)-1
    peak = int(np.argmax(np.abs(lags)))
    if abs(lags[peak]) < CONFIDENCE * float(np.mean(np.abs(lags))):
        return None
    return peak - (len(f) - 1)


def run_mode(mode: str, rec: Recording, residual_gate: bool = True) -> npt.NDArray[np.int16]:
    """The recording through an echo mode as rt talk would run it; `residual_gate=False` runs a
    canceller alone. `AudioDeviceError` when its library is missing."""
    from realtime_cli.audio.echo.aec import Aec3, SpeexAec
    from realtime_cli.audio.echo.modes import make_echo

    if residual_gate:
        proc = make_echo(mode, RATE, warn=None)
    else:
        proc = Aec3(RATE, residual_gate=False) if mode == "aec3" else SpeexAec(RATE, residual_gate=False)
    # Interleave by stream time: the speaker's blocks up to each microphone block go first.
    out, fi = [], 0
    for i in range(0, len(rec.near) - BLOCK + 1, BLOCK):
        t = rec.near_t0 + i / RATE
        while fi < len(rec.far) and rec.far_t0 + fi / RATE <= t + BLOCK / RATE:
            proc.far(rec.far[fi:fi + BLOCK], rec.far_t0 + fi / RATE)
            fi += BLOCK
        out.append(proc.near(rec.near[i:i + BLOCK], t))
    proc.close()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _signal_span(rec: Recording, delay_s: float, start_s: float, stop_s: float) -> slice:
    """The recording's samples holding the echo of signal seconds [start_s, stop_s)."""
    lead = rec.far_t0 - rec.near_t0 + delay_s + LEAD_S
    return slice(max(0, round((lead + start_s) * RATE)), max(0, round((lead + stop_s) * RATE)))


def check_canceller(mode: str, rec: Recording, span: slice) -> CancellerResult:
    from realtime_cli.errors import AudioDeviceError

    try:
        whole = run_mode(mode, rec)
        alone = None if mode == "half-duplex" else run_mode(mode, rec, residual_gate=False)
    except AudioDeviceError as exc:
        return CancellerResult(mode, False, None, None, exc.message)
    near = rec.near[span]
    reduction = None
    if alone is not None:
        reduction = round(db((mean_energy(near) + 1.0) / (mean_energy(alone[span]) + 1.0)), 1)
    return CancellerResult(mode, True, reduction, round(dbfs(loudest(whole[span])), 1))


def assess(rec: Recording, default_block_ms: float) -> RoomReport:
    near = rec.near
    lead = near[: max(0, round((rec.far_t0 - rec.near_t0 + LEAD_S - 0.1) * RATE))]
    noise = dbfs(mean_energy(lead))
    clipped = 100.0 * float(np.mean(np.abs(near.astype(np.int32)) >= CLIPPED)) if len(near) else 0.0
    peak = dbfs(float(np.max(np.abs(near.astype(np.float64)))) ** 2) if len(near) else -math.inf
    lag = find_delay(rec.far, near)
    delay_s = None if lag is None else rec.near_t0 - rec.far_t0 + lag / RATE
    playing = _signal_span(rec, delay_s or 0.0, 0.0, SIGNAL_S)
    echo_peak = dbfs(loudest(near[playing]))
    level = None
    if delay_s is not None:
        body = rec.far[round(LEAD_S * RATE):round((LEAD_S + SIGNAL_S) * RATE)]
        echo = max(mean_energy(near[playing]) - 10 ** (noise / 10) * 32768.0**2 if math.isfinite(noise)
                   else mean_energy(near[playing]), 1e-9)
        level = round(db(echo / mean_energy(body)), 1)
    found = delay_s is not None and echo_peak > VAD_HEARS_DBFS
    measured = _signal_span(rec, delay_s or 0.0, SIGNAL_S - MEASURE_S, SIGNAL_S)
    cancellers = tuple(check_canceller(m, rec, measured) for m in MODES) if found else ()
    verdict, mode, reasons = _verdict(found, clipped, level, echo_peak, cancellers, noise)
    block = default_block_ms if rec.underflows == 0 else min(max(2 * default_block_ms, 20.0),
                                                              OUTPUT_BLOCK.high)
    if rec.underflows:
        advice = (f"a larger output block ({block:g} ms) plays without clicks" if block > default_block_ms
                  else "even the largest output block did: the machine is too busy to play smoothly")
        reasons += (f"the speaker underflowed {rec.underflows} times: {advice}",)
    return RoomReport(
        noise_floor_dbfs=round(noise, 1), clipped_pct=round(clipped, 3), peak_dbfs=round(peak, 1),
        echo_found=found, echo_delay_ms=None if delay_s is None else round(1000 * delay_s, 1),
        echo_level_db=level, echo_peak_dbfs=round(echo_peak, 1),
        output_latency_ms=round(1000 * rec.output_latency_s, 1),
        input_latency_ms=round(1000 * rec.input_latency_s, 1), underflows=rec.underflows,
        cancellers=cancellers, verdict=verdict, echo_mode=mode, output_block_ms=block,
        reasons=(*reasons, *rec.notes))


def _verdict(found: bool, clipped: float, level: float | None, echo_peak: float,
             cancellers: tuple[CancellerResult, ...], noise: float) -> tuple[str, str, tuple[str, ...]]:
    """(verdict, echo mode to use, why)."""
    reasons: tuple[str, ...] = ()
    if not math.isfinite(noise):
        reasons += ("the microphone recorded digital silence: is it muted, or the wrong device?",)
    if not found:
        return ("headphones not needed", "aec",
                (*reasons, f"no echo of the speaker reached the microphone above {VAD_HEARS_DBFS:g} dBFS"))
    if clipped > CLIPPING_PCT:
        return ("use headphones", "off",
                (*reasons, f"the microphone clipped ({clipped:.2f} % of samples): no canceller copes"))
    if level is not None and level > LOUD_ECHO_DB:
        return ("use headphones", "off",
                (*reasons, f"the echo is {level:+.1f} dB over what played: the microphone is at the speaker"))
    good = [c for c in cancellers if copes(c)]
    if good:
        from realtime_cli.audio.echo.modes import DEFAULT_CANCELLER

        # the default when it copes (it measured better overall), else the one that does
        chosen = next((c for c in good if c.mode == DEFAULT_CANCELLER), good[0])
        return ("use aec", "aec" if chosen.mode == DEFAULT_CANCELLER else chosen.mode,
                (*reasons, f"{chosen.mode} removes {chosen.alone_reduction_db:g} dB of the echo and "
                 f"lets none through above {VAD_HEARS_DBFS:g} dBFS"))
    return ("use half-duplex", "half-duplex",
            (*reasons, f"no canceller removed {MIN_REDUCTION_DB:g} dB of the echo: while the assistant "
             "speaks only clearly louder speech gets through (barge in with `i`)"))


def copes(c: CancellerResult) -> bool:
    """Is canceller `c` good enough for this room: it removes `MIN_REDUCTION_DB` of the echo on
    its own, and the whole mode lets nothing through that the server's VAD would hear?"""
    return c.mode != "half-duplex" and c.available \
        and (c.alone_reduction_db or 0.0) >= MIN_REDUCTION_DB \
        and (c.echo_left_dbfs is None or c.echo_left_dbfs < VAD_HEARS_DBFS)


def needs_second_probe(report: RoomReport) -> bool:
    """Did the default canceller, available, fall short where an echo was found? One probe can
    be disturbed (a busy machine moves the echo path for a moment, and speexdsp re-converges
    slower than the probe lasts): before moving a user off the canceller that measured better
    overall, `rt doctor` listens once more."""
    from realtime_cli.audio.echo.modes import DEFAULT_CANCELLER

    default = next((c for c in report.cancellers if c.mode == DEFAULT_CANCELLER), None)
    return report.echo_found and report.echo_mode not in ("aec", "off") \
        and default is not None and default.available


def second_opinion(first: RoomReport, second: RoomReport) -> RoomReport:
    """The second probe's report, saying what the first found."""
    if second.echo_mode == first.echo_mode:
        note = "a second probe confirmed it"
    else:
        note = f"a first probe recommended --echo {first.echo_mode}; a second one did not"
    return replace(second, reasons=(*second.reasons, note))
