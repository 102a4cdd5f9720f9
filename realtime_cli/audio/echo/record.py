"""Echo recordings: what the echo processor was given, call by call, to replay it offline.

Echo problems depend on the room, the devices and their timing, none of which a bug report can
carry. With `RT_ECHO_RECORD=<file.npz>` set, `rt talk` records every far block (as played, with
its DAC time) and every microphone block (with its ADC time, and what was sent on), in order,
and writes them when the conversation ends (to a file of its own in that directory when the
variable names a directory). `replay` feeds the same calls to any processor, so a
failure seen once on real devices becomes a deterministic test.

Memory and disk: about 100 KB per second of conversation (both streams at 24 kHz int16, plus the
output); meant for diagnosis, not for every day.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.echo.interface import EchoProcessor, EchoStats

Int16Array = npt.NDArray[np.int16]
FAR, NEAR, DROPPED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class EchoCall:
    kind: int  # FAR, NEAR or DROPPED
    t: float  # DAC time (far) or ADC time (near) of the first sample; the drop's (dropped)
    pcm: Int16Array
    out: Int16Array | None  # near: what the processor returned when recorded


class EchoRecorder:
    """An `EchoProcessor` that records the calls it passes on to `inner`, and saves them on close."""

    def __init__(self, inner: EchoProcessor, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.mode = inner.mode
        self.calls: list[EchoCall] = []

    def far(self, pcm: Int16Array, t: float) -> None:
        self.calls.append(EchoCall(FAR, t, np.array(pcm, dtype=np.int16), None))
        self.inner.far(pcm, t)

    def dropped(self, t: float) -> None:
        self.calls.append(EchoCall(DROPPED, t, np.zeros(0, dtype=np.int16), None))
        self.inner.dropped(t)

    def near(self, pcm: Int16Array, t: float) -> Int16Array:
        out = self.inner.near(pcm, t)
        self.calls.append(EchoCall(NEAR, t, np.array(pcm, dtype=np.int16), np.array(out, dtype=np.int16)))
        return out

    def stats(self) -> EchoStats:
        return self.inner.stats()

    def close(self) -> None:
        """Save, then free the inner processor; a recording that cannot be written is a warning:
        the conversation itself is already stored."""
        try:
            save(self.calls, self.path, self.mode)
        except OSError as exc:
            print(f"rt: warning: echo recording not written to {self.path}: {exc.strerror or exc}",
                  file=sys.stderr)
        finally:
            self.inner.close()


def save(calls: list[EchoCall], path: Path, mode: str) -> None:
    """Write the recording whole or not at all: a process killed while writing (a test harness
    that stops waiting, `kill -9`) leaves a `.part` file, never a truncated one under `path`.
    Uncompressed: int16 audio hardly compresses, and an hour of it writes in seconds, not a minute."""
    empty = np.zeros(0, dtype=np.int16)
    part = path.with_name(path.name + ".part")
    with part.open("wb") as file:
        np.savez(
            file,
            mode=np.array(mode),
            kind=np.array([c.kind for c in calls], dtype=np.uint8),
            t=np.array([c.t for c in calls], dtype=np.float64),
            length=np.array([len(c.pcm) for c in calls], dtype=np.int64),
            pcm=np.concatenate([c.pcm for c in calls]) if calls else empty,
            out=np.concatenate([c.out for c in calls if c.out is not None] or [empty]),
        )
    os.replace(part, path)


def load(path: Path) -> tuple[str, list[EchoCall]]:
    """The recorded mode and calls; `OSError`/`ValueError` for a missing or foreign file."""
    with np.load(path) as data:
        kind, t, length = data["kind"], data["t"], data["length"]
        pcm, out, mode = data["pcm"], data["out"], str(data["mode"])
    calls: list[EchoCall] = []
    p = o = 0
    for k, when, n in zip(kind.tolist(), t.tolist(), length.tolist(), strict=True):
        block = pcm[p:p + n]
        p += n
        if k == NEAR:
            calls.append(EchoCall(NEAR, when, block, out[o:o + n]))
            o += n
        else:
            calls.append(EchoCall(k, when, block, None))
    return mode, calls


def replay(calls: list[EchoCall], processor: EchoProcessor) -> list[Int16Array]:
    """Feed the recorded calls to `processor`; its output for each microphone block, in order."""
    outs: list[Int16Array] = []
    for call in calls:
        if call.kind == FAR:
            processor.far(call.pcm, call.t)
        elif call.kind == DROPPED:
            processor.dropped(call.t)
        else:
            outs.append(processor.near(call.pcm, call.t))
    return outs


def silent_s(calls: list[EchoCall], rate: int, *, span_s: float = 1.0) -> float:
    """Seconds of microphone blocks that were exact zeros, in runs of at least `span_s`. A real
    microphone (or a simulated room, which adds noise) never gives that much digital silence:
    it is a muted microphone, or a room whose output stopped reaching rt."""
    span, silent, run = round(span_s * rate), 0, 0  # samples
    for call in calls:
        if call.kind != NEAR:
            continue
        if call.pcm.any():
            silent, run = silent + (run if run >= span else 0), 0
        else:
            run += len(call.pcm)
    return (silent + (run if run >= span else 0)) / rate
