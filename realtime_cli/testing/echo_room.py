"""A simulated room on the test sound server: rt's speaker leaks into rt's microphone.

`EchoRoom` captures what rt's speaker plays (rt_sink48's monitor), passes it through a
loudspeaker-to-microphone path (delay, gain, a reverberation tail, noise) and plays the result
into rt_sink, whose monitor is rt's microphone. A person talking in the room is `paplay -d rt_sink`
on top: PulseAudio mixes the two, as the air would.

One duplex PortAudio stream on the ALSA `pulse` device does both ends (capture routed to the
monitor with $PULSE_SOURCE, playback to rt_sink with $PULSE_SINK), so input and output blocks
come in the same callback. The stream itself adds about 62 ms (measured with a noise burst:
61-68 ms); the delay line adds the rest, so `delay_ms` is the whole path from rt's DAC to its ADC.

The stream runs in a process of its own (`python -m realtime_cli.testing.echo_room`): in the
test's process its callback waited for the interpreter lock behind the in-process server's VAD,
and on a busy machine the room's output underran (10-18 times in a 40 s test with six busy
processes on two cores), each underrun moving its echo path under rt. Air does not do that. The
child reports its underruns (`glitches`), so a failing test shows whether the room skipped,
and raises its own priority where it may: at ordinary priority, with other work on the machine,
it skipped hundreds of times in a quarter of an hour, and rt's figures then measured the load.

The parent also listens to what rt's microphone gets (`SilenceWatch` on rt_sink's monitor): the
room adds noise to all it plays, so a second of exact zeros there means the room's output no
longer reaches rt. That happened twice in real-device runs over an hour long (from minute 8 and
minute 25 on), the room's callbacks still running and its stream reporting nothing wrong; rt then
had no echo to handle and the rest of the run measured nothing. The parent then notes what
PulseAudio says of the room's playback, starts a fresh child (a new connection, a new stream) and
reports it as a glitch.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.devices import open_error, open_stream, resolve_device, sounddevice

RATE = 24_000
BLOCK = 240  # 10 ms
STREAM_RESTARTED = "stream restarted"  # ends the glitch the room reports when it restarts its stream
RESTARTED = "room restarted"  # ... and the one the watch reports when it starts a fresh room
STREAM_DELAY_MS = 62.0  # the duplex stream's own latency on `pulse`, measured (61-68 ms)
ROOM_NICE = -10  # the room's priority boost (see _above_the_load)
STREAM_CHECK_S = 0.1  # how often the child looks whether its stream still runs
SPIN_WINDOW_S = 1.0  # ... and, over this long, whether PortAudio's thread spins (see Room.restart)
SPIN_SHARE = 0.6  # of a core: the room's own work takes under a tenth of one
STALL_SHARE = 0.5  # of the callbacks due in that window: fewer, and the room's stream stalled
SILENT_S = 1.0  # exact zeros at rt's microphone for this long: the room's output is lost


def reverb_tail(ms: float, rng: np.random.Generator, decay_db: float = 60.0) -> npt.NDArray[np.float64]:
    """An impulse response: the direct sound, then exponentially decaying noise (a small room)."""
    n = max(1, int(ms * RATE / 1000))
    t = np.arange(n) / n
    tail = rng.standard_normal(n) * 10 ** (-decay_db * t / 20) * 0.3
    tail[0] = 1.0
    return np.asarray(tail / np.sqrt(np.sum(tail**2)), dtype=np.float64)


class Room:
    """The signal path and its stream; runs in the child process (`main`)."""

    def __init__(self, *, delay_ms: float, gain: float, reverb_ms: float, noise_dbfs: float,
                 seed: int, report: IO[str]) -> None:
        rng = np.random.default_rng(seed)
        self.gain = gain
        self._ir = reverb_tail(reverb_ms, rng)
        self._noise = 32768 * 10 ** (noise_dbfs / 20)
        self._rng = rng
        self._line = np.zeros(int((delay_ms - STREAM_DELAY_MS) * RATE / 1000), dtype=np.float64)
        self._tail = np.zeros(len(self._ir) - 1, dtype=np.float64)
        self._report = report
        self._started = False
        self._stream: Any = None
        self.callbacks = 0  # ever: the parent's watch compares it over a window

    def _say(self, line: str) -> None:
        self._report.write(line + "\n")
        self._report.flush()

    def open(self) -> None:
        """Open and start the duplex stream; the environment routes its two ends."""
        sd = sounddevice()
        info = resolve_device("pulse", "output")
        try:
            self._stream = sd.Stream(device=(info.index, info.index), samplerate=RATE, channels=1,
                                     dtype="int16", blocksize=BLOCK, callback=self._callback)
        except (sd.PortAudioError, ValueError) as exc:
            raise open_error(exc, info, "output", RATE, 1) from None
        self._stream.start()

    def _callback(self, indata: npt.NDArray[np.int16], outdata: npt.NDArray[np.int16], frames: int,
                  stamps: Any, status: Any) -> None:
        if status:  # the room itself skipped: to rt, its echo path just moved
            self._say(f"glitch {stamps.currentTime:.3f} {status}")
        x = indata[:, 0].astype(np.float64)
        if self._line.size:  # the delay line: this block goes in, the oldest comes out
            joined = np.concatenate([self._line, x])
            x, self._line = joined[:frames], joined[frames:]
        wet = np.convolve(x, self._ir)
        wet[: self._tail.size] += self._tail
        self._tail = wet[frames:].copy()
        y = wet[:frames] * self.gain + self._rng.standard_normal(frames) * self._noise
        outdata[:, 0] = np.clip(np.round(y), -32768, 32767).astype(np.int16)
        self.callbacks += 1
        if not self._started:
            self._started = True
            self._say("started")

    def restart(self, why: str) -> None:
        """Abort and start the stream again. After an underrun of its own (a busy machine
        stalling it for 200 ms is enough) the duplex stream's thread polls the `pulse` plugin
        about 3,000 times a second, one of its fds readable on every poll while a whole period
        is not, for the rest of the run: a core at the room's raised priority, taken from rt.
        A restart ends it. A stream whose callbacks stop coming is restarted too: in a
        real-device run the room's output stopped reaching rt from the eighth minute of 73 on,
        without an xrun or an error (what the stream did then was not seen). Reported as a glitch: the
        path may move by a few ms."""
        self._say(f"glitch {self._stream.time:.3f} {why}: {STREAM_RESTARTED}")
        self._stream.abort()
        self._stream.start()

    @property
    def active(self) -> bool:
        """False once PortAudio's stream thread has ended on its own (an ALSA poll error ends it
        without a word to the callback)."""
        return self._stream is not None and bool(self._stream.active)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close(ignore_errors=True)


class SilenceWatch:
    """Digital silence at a monitor, as PortAudio delivers it: `silent` is set once `span_s` of
    exact zeros came in a row. Keeps nothing but the count, so it can run for hours."""

    def __init__(self, spec: str, span_s: float = SILENT_S) -> None:
        self.spec = spec
        self._span = round(span_s * RATE)
        self._zeros = 0
        self.silent = threading.Event()
        self._stream: Any = None

    def start(self) -> SilenceWatch:
        self._stream = open_stream(resolve_device(self.spec, "input"), "input", RATE, 1,
                                   BLOCK * 1000 / RATE, self._callback, lambda: None)
        return self

    def _callback(self, indata: npt.NDArray[np.int16], frames: int, stamps: Any, status: Any) -> None:
        self._zeros = self._zeros + frames if not indata.any() else 0
        if self._zeros >= self._span:
            self.silent.set()

    def rearm(self) -> None:
        """Count from zero again (after the room restarted)."""
        self._zeros = 0
        self.silent.clear()

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.close(ignore_errors=True)
            self._stream = None


_SAID = ("Sink", "Corked", "Mute", "Buffer Latency", "Sink Latency")  # of a `pactl list` entry


def sink_inputs(pid: int) -> list[str]:
    """PulseAudio's `pactl list sink-inputs` entries for the playback streams of process `pid`."""
    out = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True, text=True, check=True,
                         timeout=5, env={**os.environ, "LC_ALL": "C"}).stdout
    return [block for block in out.split("\n\n") if f'application.process.id = "{pid}"' in block]


def playback_state(pid: int) -> str:
    """What PulseAudio says of the playback streams of process `pid`: their sink, whether they
    are corked or muted, their latency; "no playback stream" when it has none."""
    try:
        blocks = sink_inputs(pid)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"pactl failed: {exc}"
    found = [", ".join(line.strip() for line in block.splitlines() if line.strip().split(":")[0] in _SAID)
             for block in blocks]
    return "; ".join(found) or "no playback stream"


class EchoRoom:
    """The room in a child process; a context manager. `start` returns once the room's stream
    delivers (its first callback), or raises `RuntimeError` with the child's reason. With `watch`,
    a room whose output stops reaching rt's microphone is restarted (see `SilenceWatch`)."""

    START_TIMEOUT_S = 30.0  # a busy machine starts PulseAudio streams late
    START_TRIES = 3

    def __init__(self, *, delay_ms: float = 80.0, gain: float = 0.5, reverb_ms: float = 50.0,
                 noise_dbfs: float = -60.0, seed: int = 0,
                 speaker: str = "rt_sink48.monitor", microphone: str = "rt_sink", watch: bool = True) -> None:
        if delay_ms < STREAM_DELAY_MS:
            raise ValueError(f"the path cannot be shorter than the stream's {STREAM_DELAY_MS:g} ms")
        self.delay_ms = delay_ms
        self.gain = gain
        self._options = {"delay_ms": delay_ms, "gain": gain, "reverb_ms": reverb_ms,
                         "noise_dbfs": noise_dbfs, "seed": seed}
        self._speaker, self._microphone = speaker, microphone
        self._child: subprocess.Popen[str] | None = None
        self._reader = threading.Thread()
        self._started = threading.Event()
        self._said: list[str] = []
        self._exited = False  # the child ended (before its stream started, or when it stopped)
        # (when, what): the child's own on its stream's clock with PortAudio's status, the
        # watch's restarts on the wall clock
        self.glitches: list[tuple[float, str]] = []
        self._watch = SilenceWatch(f"pulse:{microphone}.monitor") if watch else None
        self._watcher = threading.Thread()
        self._closing = threading.Event()

    @property
    def pid(self) -> int | None:
        """The room process's id, while it runs."""
        return self._child.pid if self._child is not None else None

    def start(self) -> EchoRoom:
        """Start the room, then (with `watch`) the watch on rt's microphone."""
        self._closing.clear()
        self._start_child()
        if self._watch is not None:
            try:
                self._watch.start()
            except Exception:
                self.stop()
                raise
            self._watcher = threading.Thread(target=self._keep_reaching_rt, name="echo room watch",
                                             daemon=True)
            self._watcher.start()
        return self

    def _keep_reaching_rt(self) -> None:
        assert self._watch is not None
        while not self._closing.wait(0.1):
            if not self._watch.silent.is_set():
                continue
            pid = self.pid
            state = playback_state(pid) if pid is not None else "no room process"
            self.glitches.append((time.time(), f"silent at the microphone for {SILENT_S:g} s "
                                               f"(pulse: {state}): {RESTARTED}"))
            self._stop_child()
            if self._closing.is_set():
                return
            try:
                self._start_child()
            except RuntimeError as exc:
                if not self._closing.is_set():
                    self.glitches.append((time.time(), f"the room could not restart: {exc}"))
                return
            self._watch.rearm()

    def _start_child(self) -> None:
        """Start the child; again, up to `START_TRIES` in all, when its stream failed to start.
        PortAudio's ALSA poll failed on PulseAudio in two clean-clone runs, right after the
        previous room closed: the rig's own stream, before rt was involved. Its stream thread
        ends then, the child sees it and exits, and a fresh process starts cleanly."""
        tries = self.START_TRIES
        while True:
            try:
                self._start()
                return
            except RuntimeError:
                tries -= 1
                if not tries or not self._exited or "no audio device" in " ".join(self._said) \
                        or self._closing.is_set():
                    raise
                time.sleep(1.0)
                self._said.clear()

    def _start(self) -> None:
        env = {**os.environ, "PULSE_SOURCE": self._speaker, "PULSE_SINK": self._microphone}
        self._started.clear()
        child = self._child = subprocess.Popen(
            [sys.executable, "-m", "realtime_cli.testing.echo_room", json.dumps(self._options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self._reader = threading.Thread(target=self._read, args=(child.stdout,),
                                        name="echo room", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while not self._started.wait(0.05):
            # `stop` gives up on a start in progress: it waits for the watch, which may be here
            if child.poll() is not None or time.monotonic() > deadline or self._closing.is_set():
                self._exited = child.poll() is not None
                self._stop_child()
                if self._closing.is_set():
                    raise RuntimeError("the echo room was stopped while its stream was starting")
                said = " | ".join(self._said[-5:]) or "nothing"
                raise RuntimeError(f"the echo room's stream did not start (within "
                                   f"{self.START_TIMEOUT_S:g} s); it said: {said}")

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "started":
                self._started.set()
            elif kind == "glitch":
                when, _, status = rest.partition(" ")
                self.glitches.append((float(when), status))
            else:  # PortAudio's and ALSA's own messages, an open error
                self._said.append(line.strip())

    def stop(self) -> None:
        self._closing.set()  # a restart in progress gives up within 50 ms
        if self._watcher.is_alive():
            self._watcher.join(30)
        if self._watch is not None:
            self._watch.stop()
        self._stop_child()

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()  # the child ends when its stdin does
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        self._reader.join(10)  # to the end of what it said
        if child.stdout is not None:
            child.stdout.close()

    def __enter__(self) -> EchoRoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _above_the_load() -> None:
    """Ahead of every ordinary process, as the air is: a room that skips moves the echo path
    under rt, and a benchmark then measures the machine's load, not rt. Best effort: without
    the right to raise its priority the room runs as before and still reports its skips."""
    with contextlib.suppress(OSError):
        os.nice(ROOM_NICE)


def main() -> None:
    """The child: run the room until stdin closes (the parent stopped it, or died)."""
    _above_the_load()
    room = Room(**json.loads(sys.argv[1]), report=sys.stdout)
    try:
        room.open()
    except Exception as exc:  # noqa: BLE001 - the parent shows it
        print(f"error {exc}", flush=True)
        sys.exit(1)
    ended = threading.Event()

    def wait_for_the_parent() -> None:
        sys.stdin.read()
        ended.set()

    threading.Thread(target=wait_for_the_parent, name="stdin", daemon=True).start()
    window: tuple[float, float, int] | None = None  # from the stream's first callback on
    started_at = 0  # the callback count when the stream was last (re)started
    try:
        while not ended.wait(STREAM_CHECK_S):
            if not room.active:
                print("error the room's stream stopped (PortAudio's stream thread ended)", flush=True)
                sys.exit(1)
            now = (time.monotonic(), time.process_time(), room.callbacks)
            if window is None:  # a stream may take a while to deliver its first block
                window = now if now[2] > started_at else None
                continue
            wall = now[0] - window[0]
            if wall < SPIN_WINDOW_S:
                continue
            due, calls, cpu = wall * RATE / BLOCK, now[2] - window[2], now[1] - window[1]
            window = now
            if cpu / wall > SPIN_SHARE:
                why = "spinning"
            elif calls < STALL_SHARE * due:
                why = f"stalled ({calls} of {due:.0f} callbacks in {wall:.1f} s)"
            else:
                continue
            try:
                room.restart(why)
            except Exception as exc:  # noqa: BLE001 - the parent shows it
                print(f"error the room's stream could not restart: {exc}", flush=True)
                sys.exit(1)
            window, started_at = None, room.callbacks
    finally:
        room.close()


if __name__ == "__main__":
    main()
