"""`rt talk` on the test sound server's null sinks, driven from outside: an in-process `rt serve`,
an `rt talk --plain` process read line by line, and espeak-ng speech to play into the microphone.

rt's microphone is `pulse:rt_sink.monitor` and its speaker `pulse:rt_sink48`; a person talking is
`play(wav)` into rt_sink.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from realtime_cli.server.app import RunningServer

RATE = 24_000
# The directory that holds this copy of `realtime_cli`: the rt processes started here import it.
PACKAGE_HOME = Path(__file__).resolve().parents[2]
_RT_SCRIPT = Path(sys.executable).with_name("rt")
RT = [str(_RT_SCRIPT)] if _RT_SCRIPT.exists() else [sys.executable, "-m", "realtime_cli"]
QUESTION = "hello there, what is the weather like today"
INTERRUPTION = "wait a moment please"


def sd_now() -> float:
    """Now on PortAudio's clock. On Linux/ALSA it is the wall clock (Pa_GetStreamTime uses
    CLOCK_REALTIME); `test_portaudio_clock_is_the_wall_clock` keeps that assumption honest."""
    return time.time()


def speech_wav(text: str, path: Path) -> npt.NDArray[np.int16]:
    """espeak-ng speech as a 24 kHz mono PCM16 WAV at `path` (no resampling on its way to the
    24 kHz rt_sink, so what rt captures is bit-exact); returns the samples."""
    raw = path.with_suffix(".22k.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "24000", "-c", "1", "-b", "16", "-e", "signed-integer",
                    str(path)], check=True)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


class InProcessServer:
    """`rt serve`'s server (run_server, as `rt serve --port 0 --script ... --record FILE`) on its
    own event loop in a thread, so the test reads what it received, audio included."""

    def __init__(self, script: tuple[str, ...], record: Path) -> None:
        from realtime_cli.server import ServerOptions

        self.options = ServerOptions(port=0, script=script, record=record,
                                     voice_engine="espeak")
        self.url = ""
        self.srv: RunningServer | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rt-serve", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from realtime_cli.server import run_server

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_server(self.options) as srv:
            self.srv, self.url = srv, srv.url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> InProcessServer:
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def events(self, type_: str) -> list[dict[str, Any]]:
        assert self.srv is not None
        return list(self.srv.events(type_))

    def appended_audio(self) -> npt.NDArray[np.int16]:
        chunks = [base64.b64decode(e["audio"]) for e in self.events("input_audio_buffer.append")]
        return np.frombuffer(b"".join(chunks), dtype="<i2")

    def voice(self) -> str:
        update = self.events("session.update")[0]
        return str(update["session"]["audio"]["output"]["voice"])


@dataclass
class Talk:
    """`rt talk --plain` as a subprocess; every stdout line stamped (PortAudio clock) on arrival."""

    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    stderr: str = ""
    _eof: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def start_reading(self) -> None:
        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append((sd_now(), line.rstrip("\n")))
                    self._cond.notify_all()
            self.proc.stdout.close()
            with self._cond:
                self._eof = True
                self._cond.notify_all()

        threading.Thread(target=pump, daemon=True).start()

    def mark(self) -> int:
        """A position in the output, for `wait_line(..., since=)`."""
        with self._cond:
            return len(self.lines)

    def wait_line(self, pattern: str, within: float, since: int = 0) -> float:
        """Arrival time of the first stdout line matching `pattern` (from line `since` on)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        with self._cond:
            while True:
                for stamp, line in self.lines[since:]:
                    if regex.search(line):
                        return stamp
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"no line matching {pattern!r} within {within} s; "
                                         f"rt said:\n{self.text()}\nstderr: {self.read_err()}")
                self._cond.wait(min(left, 0.1))

    def finish(self, within: float) -> int:
        try:
            code = self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"rt talk still running after {within} s:\n{self.text()}") \
                from None
        self.close()
        return code

    def close(self) -> None:
        """Take what is left of both pipes and close them, so no file is left to the collector."""
        self.read_err()
        with self._cond:  # the reader thread takes the last lines, then EOF
            self._cond.wait_for(lambda: self._eof, timeout=5)
        if self.proc.stdout is not None and self._eof:
            self.proc.stdout.close()

    def read_err(self) -> str:
        if self.proc.poll() is not None and self.proc.stderr is not None and \
                not self.proc.stderr.closed:
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return self.stderr

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


@contextmanager
def rt_talk(url: str, data_dir: Path, *extra: str,
            env: dict[str, str] | None = None) -> Iterator[Talk]:
    args = [*RT, "talk", "--url", url, "--plain", "--data-dir", str(data_dir),
            "--input-device", "pulse:rt_sink.monitor", "--output-device", "pulse:rt_sink48",
            *extra]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_HOME), **(env or {})}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=PACKAGE_HOME, env=env)
    talk = Talk(proc)
    talk.start_reading()
    try:
        yield talk
    finally:
        if proc.poll() is None:  # still running (a failed test, or one done early): end rt as a
            # user would, so it tidies up and writes an echo recording if one was asked for
            proc.terminate()
            try:  # an hour's echo recording takes a while to write
                proc.wait(120 if "RT_ECHO_RECORD" in env else 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        talk.close()


def play(wav: Path, sink: str = "rt_sink") -> subprocess.Popen[bytes]:
    return subprocess.Popen(["paplay", "-d", sink, str(wav)])
