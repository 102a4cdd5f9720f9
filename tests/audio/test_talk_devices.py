"""A whole `rt talk` conversation on REAL devices: the test sound server's null sinks.

rt's microphone is `pulse:rt_sink.monitor`, its speaker `pulse:rt_sink48` (a separate sink, so rt
never hears itself). The test speaks into rt_sink with `paplay -d rt_sink` (espeak-ng speech) and
records rt_sink48's monitor raw with ADC times (probe.MonitorRecorder), the ground truth of what
rt's speaker really played.

The server is `rt serve`'s server (realtime_cli.server.run_server, the code `rt serve` runs) in a
thread of this process: its in-memory record keeps the audio of every input_audio_buffer.append
(the `--record FILE` log, also written and checked here, elides it), so the test can check that
what rt sent is the question it heard. `--script` replies make the answer's words, hence its
espeak-ng audio, known in advance; the test synthesises the same audio as the reference.

Clocks: PortAudio's stream clock (MonitorRecorder ADC times) is compared with the moment rt's
`--plain` line arrives on the pipe, stamped with `sd_now()` (PortAudio's clock, checked to be
the wall clock here, see `sd_now`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from realtime_cli.audio.probe import MonitorRecorder

from .conftest import ROOT, SoundServer

pytestmark = pytest.mark.sound

RATE = 24_000
_RT_SCRIPT = Path(sys.executable).with_name("rt")
RT = [str(_RT_SCRIPT)] if _RT_SCRIPT.exists() else [sys.executable, "-m", "realtime_cli"]
QUESTION = "hello there, what is the weather like today"
INTERRUPTION = "wait a moment please"
# One long sentence without commas or full stops: espeak-ng leaves no long pause inside it,
# so the first long silence after the barge-in is the flush, not a pause in the answer.
LONG_ANSWER = ("the weather today is sunny and warm with a light breeze from the west and "
               "it should stay that way through the afternoon and well into the evening hours")
SHORT_ANSWER = "all right I will wait"
ANSWER = "The weather is sunny and warm today."
SILENT = 64  # |sample| below this (-54 dBFS) counts as silence; the null sink's silence is 0


# ------------------------------------------------------------------ helpers


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


def server_speech(text: str, voice: str) -> npt.NDArray[np.int16]:
    """The exact 24 kHz audio `rt serve` streams for `text` in `voice` (espeak-ng is
    deterministic)."""
    from realtime_cli.server.speech import SpeechEngine

    pcm = asyncio.run(SpeechEngine("espeak").synthesize(text, voice))
    return np.frombuffer(pcm, dtype="<i2").copy()


def to_24k(signal: npt.NDArray[np.int16], rate: int) -> npt.NDArray[np.float64]:
    import soxr

    return np.asarray(soxr.resample(signal.astype(np.float64), rate, RATE), dtype=np.float64)


def align(haystack: npt.NDArray[np.float64], needle: npt.NDArray[np.float64]) -> tuple[int, float]:
    """(lag, normalised correlation) of `needle` in `haystack` at the best lag."""
    size = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    lag = int(np.argmax(corr[: max(1, len(haystack) - len(needle) + 1)]))
    part = haystack[lag : lag + len(needle)]
    denom = float(np.linalg.norm(part) * np.linalg.norm(needle[: len(part)])) or 1.0
    return lag, float(np.dot(part, needle[: len(part)]) / denom)


def voiced_extent(x: npt.NDArray[np.floating] | npt.NDArray[np.int16]) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(np.asarray(x, dtype=np.float64)) >= SILENT)
    assert loud.size, "no sound at all"
    return int(loud[0]), int(loud[-1]) + 1


def rms(x: npt.NDArray[np.floating] | npt.NDArray[np.int16]) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x**2))) if x.size else 0.0


def sample_at(rec: MonitorRecorder, when: float) -> int:
    """Index in `rec.signal()` of the sample whose ADC time is `when`."""
    start = 0
    for adc, block in list(rec._blocks):
        if when < adc + len(block) / rec.rate:
            return start + max(0, int((when - adc) * rec.rate))
        start += len(block)
    return start


class InProcessServer:
    """`rt serve`'s server (run_server, as `rt serve --port 0 --script ... --record FILE`) on its
    own event loop in a thread, so the test reads what it received, audio included."""

    def __init__(self, script: tuple[str, ...], record: Path) -> None:
        from realtime_cli.server import ServerOptions

        self.options = ServerOptions(port=0, script=script, record=record,
                                     voice_engine="espeak")
        self.url = ""
        self.srv = None
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

    def events(self, type_: str) -> list[dict]:
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

    def wait_line(self, pattern: str, within: float) -> float:
        """Arrival time of the first stdout line matching `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        with self._cond:
            while True:
                for stamp, line in self.lines:
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
        self.read_err()
        with self._cond:  # the reader thread takes the last lines, then EOF
            self._cond.wait_for(lambda: self._eof, timeout=2)
        return code

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
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    talk = Talk(proc)
    talk.start_reading()
    try:
        yield talk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def play(wav: Path, sink: str = "rt_sink") -> subprocess.Popen[bytes]:
    return subprocess.Popen(["paplay", "-d", sink, str(wav)])


@pytest.fixture
def speaker(sound: SoundServer) -> Iterator[MonitorRecorder]:
    """rt_sink48's monitor, recorded raw (48 kHz stereo) with ADC times."""
    with MonitorRecorder(sound.monitor48, rate=48_000, channels=2) as rec:
        assert rec.first_block.wait(3), "rt_sink48's monitor delivered nothing for 3 s"
        yield rec


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("espeak-ng", "sox", "paplay"):
        assert shutil.which(tool), f"{tool} is missing (make system-deps)"


def until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        time.sleep(0.01)


# ------------------------------------------------------------------ tests


def test_portaudio_clock_is_the_wall_clock(sound: SoundServer) -> None:
    from realtime_cli.audio.devices import sounddevice

    sd = sounddevice()
    with sd.OutputStream(device="pulse", samplerate=RATE, channels=1, dtype="int16") as stream:
        assert abs(float(stream.time) - sd_now()) < 0.005


def test_one_spoken_turn_on_real_devices(sound: SoundServer, speaker: MonitorRecorder,
                                         tmp_path: Path) -> None:
    question = speech_wav(QUESTION, tmp_path / "question.wav")
    record = tmp_path / "received.jsonl"
    with InProcessServer((ANSWER,), record) as server, \
            rt_talk(server.url, tmp_path / "data", "--max-turns", "1") as talk:
        talk.wait_line(r"state: ready", 15)
        begin = len(speaker.signal())
        player = play(tmp_path / "question.wav")
        assert player.wait(10) == 0
        talk.wait_line(r"^\[.*\] assistant: ", 15)
        code = talk.finish(20)
        out = talk.text()
        assert code == 0, f"exit {code}\n{out}\nstderr: {talk.stderr}"
        assert talk.stderr == "", talk.stderr
        for expected in (r"state: listening \(user speaking\)",
                         r"user: (<\d+\.\d s of speech>|\[speech, \d+\.\d s\])",
                         rf"assistant: {re.escape(ANSWER)}$", r"turn 1: completed",
                         r"session ended: 1 assistant turn\(s\) done", r"state: closed"):
            assert re.search(expected, out, re.M), f"missing {expected!r} in:\n{out}"
        time.sleep(0.15)  # the monitor runs ~60 ms behind the DAC
        heard = speaker.signal()[begin:]
        sent = server.appended_audio()
        reply = server_speech(ANSWER, server.voice())

    # What rt sent is what the microphone heard: the question, bit for bit, and nothing else
    # (in particular not rt's own answer, which went to the other sink).
    q = question.astype(np.float64)
    lag, score = align(sent.astype(np.float64), q)
    assert score > 0.999, f"the question is not in the appended audio (correlation {score:.3f})"
    inside = sent[lag : lag + len(question)]
    assert rms(inside) > 1000, rms(inside)
    outside = np.concatenate([sent[:lag], sent[lag + len(question):]])
    assert rms(outside) < 1.0, f"the microphone heard something else (RMS {rms(outside):.1f})"
    assert len(sent) >= lag + len(question), "rt stopped sending before the question ended"

    # What the speaker played is the server's answer: the same audio, all of it, once.
    played = to_24k(heard, 48_000)
    ref = reply.astype(np.float64)
    lag, score = align(played, ref)
    assert score > 0.95, f"the speaker did not play the answer (correlation {score:.3f})"
    first, last = voiced_extent(played)
    ref_first, ref_last = voiced_extent(ref)
    heard_ms = (last - first) / 24
    sent_ms = (ref_last - ref_first) / 24
    assert abs(heard_ms - sent_ms) <= 30, (heard_ms, sent_ms)
    assert abs((first - lag) - ref_first) <= 24 * 5  # the voice starts where the answer does
    for k in range(lag, lag + len(ref) - RATE // 2, RATE // 2):  # every half second of it
        part, want = played[k : k + RATE // 2], ref[k - lag : k - lag + RATE // 2]
        if rms(want) > 300:
            c = float(np.dot(part, want) / (np.linalg.norm(part) * np.linalg.norm(want) or 1))
            assert c > 0.9, f"answer at {(k - lag) / 24:.0f} ms does not match ({c:.3f})"

    # The --record log has the same events (audio elided there).
    logged = [json.loads(line) for line in record.read_text().splitlines()]
    appends = [r for r in logged if r["event"]["type"] == "input_audio_buffer.append"]
    assert len(appends) == len(server.events("input_audio_buffer.append")) > 0
    assert {r["conn"] for r in logged} == {1}
    assert re.fullmatch(r"<\d+ base64 chars>", appends[0]["event"]["audio"])


def test_barge_in_on_real_devices(sound: SoundServer, speaker: MonitorRecorder,
                                  tmp_path: Path) -> None:
    speech_wav(QUESTION, tmp_path / "question.wav")
    interruption = speech_wav(INTERRUPTION, tmp_path / "interruption.wav")
    record = tmp_path / "received.jsonl"
    with InProcessServer((LONG_ANSWER, SHORT_ANSWER), record) as server, \
            rt_talk(server.url, tmp_path / "data", "--max-turns", "2") as talk:
        talk.wait_line(r"state: ready", 15)
        begin = len(speaker.signal())
        assert play(tmp_path / "question.wav").wait(10) == 0
        talk.wait_line(r"state: responding", 15)
        until(lambda: rms(speaker.signal()[-4800:]) > 300, 5, "the answer on the speaker")
        time.sleep(1.0)  # a second into the answer
        played_at = sd_now()
        player = play(tmp_path / "interruption.wav")
        flushed_at = talk.wait_line(r"state: interrupted", 10)  # = speech_started received
        assert player.wait(10) == 0
        code = talk.finish(25)
        out = talk.text()
        assert code == 0, f"exit {code}\n{out}\nstderr: {talk.stderr}"
        time.sleep(0.15)
        sig = speaker.signal()
        voice = server.voice()
        truncates = server.events("conversation.item.truncate")
        sent = server.appended_audio()

    assert re.search(r"interrupted \(speech_overlap\) at \d+ ms", out), out
    assert re.search(r"assistant \(cut\): ", out), out
    assert re.search(rf"assistant: {re.escape(SHORT_ANSWER)}$", out, re.M), out
    assert len(truncates) == 1, truncates
    audio_end_ms = truncates[0]["audio_end_ms"]
    long_ms = len(server_speech(LONG_ANSWER, voice)) / 24
    assert 800 < audio_end_ms < long_ms - 1000, (audio_end_ms, long_ms)
    assert re.search(r'"conversation.item.truncate"', record.read_text())
    # the interruption reached the server too
    assert align(sent.astype(np.float64), interruption.astype(np.float64))[1] > 0.999

    # The speaker goes silent right after the flush, and stays silent until the next answer.
    ch0 = sig[begin:]  # channel 0
    rate = 48_000
    later = sample_at(speaker, flushed_at + 0.4) - begin
    assert rms(ch0[later : later + rate // 10]) < 1.0, "still playing 0.4 s after the barge-in"
    k = later
    while k > 0 and abs(int(ch0[k - 1])) < SILENT:
        k -= 1
    silent_at = speaker.time_of(begin + k)
    latency_ms = (silent_at - flushed_at) * 1000
    detect_ms = (flushed_at - played_at) * 1000
    # what was heard of the answer vs what rt told the server had been heard
    reply = server_speech(LONG_ANSWER, voice).astype(np.float64)
    heard = to_24k(ch0[:k], rate)
    lag, score = align(heard, reply[:RATE])  # the answer's first second starts it
    assert score > 0.9, score
    heard_ms = (len(heard) - lag) / 24
    print(f"\nbarge-in on real devices: speech_started received {detect_ms:.0f} ms after the "
          f"interruption began playing; voice silent {latency_ms:.1f} ms after speech_started; "
          f"heard {heard_ms:.0f} ms of the answer, audio_end_ms {audio_end_ms} "
          f"(heard after the truncation point: {heard_ms - audio_end_ms:.0f} ms)")
    assert -5 <= latency_ms <= 150, latency_ms
    assert -20 <= heard_ms - audio_end_ms <= 150, (heard_ms, audio_end_ms)
