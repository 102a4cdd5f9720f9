"""Tools for the end-to-end tests: real `rt serve` and `rt` processes on loopback sockets.

Everything here waits on a condition with a deadline (a line on stdout, audio reaching the
output WAV, a process exit); nothing sleeps for a fixed time to "let things happen".
Real-time pacing is the only unavoidable wait: a WAV microphone speaks in real time and a WAV
speaker plays in real time, so the WAVs are kept short.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

import numpy as np
import numpy.typing as npt

from realtime_cli.audio.pcm import SAMPLE_RATE, SAMPLES_PER_MS

_BIN = Path(sys.executable).parent / "rt"
RT: list[str] = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "realtime_cli"]
SECRET = "sk-test-SECRET123"
RUN_TIMEOUT = 45.0  # one rt process, worst case on a loaded 2-core machine
# Environment variables that would point rt at a real service or another data directory.
_SCRUB = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")

Event = dict[str, Any]


# --------------------------------------------------------------------------- audio files


def speech(text: str) -> npt.NDArray[np.int16]:
    """Real speech at 24 kHz mono (espeak-ng, resampled), like the server's own voice."""
    from realtime_cli.server.speech import espeak_wav_to_pcm, synthetic_voice

    exe = shutil.which("espeak-ng")
    if exe is None:  # Silero hears the synthetic voice as speech too
        return np.frombuffer(synthetic_voice(text), dtype="<i2").copy()
    out = subprocess.run([exe, "-v", "en-us", "-s", "170", "--stdout", "--", text],
                         capture_output=True, check=True, timeout=30).stdout
    return np.frombuffer(espeak_wav_to_pcm(out), dtype="<i2").copy()


def silence(ms: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(ms * SAMPLES_PER_MS), dtype=np.int16)


def write_wav(path: Path, parts: Iterable[npt.NDArray[np.int16] | str | float]) -> Path:
    """A 24 kHz mono WAV of the parts in order: text is spoken, a number is ms of silence."""
    chunks = [speech(p) if isinstance(p, str) else silence(p) if isinstance(p, int | float)
              else p for p in parts]
    pcm = np.concatenate(chunks).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def voiced_samples(wav: Path) -> int:
    """Loud samples in a WAV that is still being written (its header is not trusted)."""
    raw = wav.read_bytes()[44:] if wav.exists() else b""
    return int(loud(np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")).size)


def find(haystack: npt.NDArray[np.int16], needle: npt.NDArray[np.int16]) -> int:
    """First index where `needle` occurs verbatim in `haystack`, or -1."""
    n = len(needle)
    assert n > 0
    anchor = int(np.argmax(np.abs(needle.astype(np.int32))))  # a rare value: few candidates
    hits = np.flatnonzero(haystack[anchor : len(haystack) - n + anchor + 1] == needle[anchor])
    for at in hits:
        if np.array_equal(haystack[at : at + n], needle):
            return int(at)
    return -1


def server_voice(text: str, voice: str) -> npt.NDArray[np.int16]:
    """`text` as the twins speak it in `voice` (an OpenAI or a Gemini voice name)."""
    from realtime_cli.server.speech import SpeechEngine

    pcm = asyncio.run(SpeechEngine("auto").synthesize(text, voice, 1.0))
    return np.frombuffer(pcm, dtype="<i2").copy()


# --------------------------------------------------------------------------- rt serve


@dataclass
class Server:
    """One `rt serve` subprocess on a free port, recording what it receives."""

    proc: subprocess.Popen[str]
    url: str
    record: Path
    log: Path

    def received(self, type_: str | None = None, conn: int | None = None) -> list[Event]:
        """Client events the server has received so far (from its --record file)."""
        return [line["event"] for line in self.lines()
                if (type_ is None or line["event"].get("type") == type_)
                and (conn is None or line["conn"] == conn)]

    def lines(self) -> list[Event]:
        if not self.record.exists():
            return []
        out = []
        for raw in self.record.read_text(encoding="utf-8").splitlines():
            if raw.endswith("}"):  # a line being written is skipped until complete
                out.append(json.loads(raw))
        return out

    def connections(self) -> list[int]:
        return sorted({line["conn"] for line in self.lines()})

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)


def start_server(workdir: Path, *flags: str, script: Sequence[str] = ()) -> Server:
    """Start `rt serve --port 0 --record ...` and wait for its listening line."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(list(workdir.glob("serve*.jsonl")))
    record = workdir / f"serve{n}.jsonl"
    log = workdir / f"serve{n}.log"
    args = [*RT, "serve", "--port", "0", "--record", str(record), *flags]
    if script:
        script_file = workdir / f"serve{n}-script.txt"
        script_file.write_text("\n".join(script) + "\n", encoding="utf-8")
        args += ["--script", str(script_file)]
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=clean_env(workdir / "unused-data"), cwd=workdir)
    assert proc.stdout is not None
    line = read_line(proc, 30.0)
    match = re.search(r"listening on (ws://\S+)", line)
    if match is None:
        stop_process(proc)
        raise AssertionError(f"rt serve did not start: {line!r}\n{log.read_text()}")
    return Server(proc=proc, url=match.group(1), record=record, log=log)


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
        return proc.stdout.readline()
    finally:
        sel.close()


# --------------------------------------------------------------------------- rt


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an rt process: its own data and config dirs, no real credentials."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("RT_")}
    home = data_dir.parent / "home"
    env.update(RT_DATA_DIR=str(data_dir), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), HOME=str(home),
               NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"$ rt {' '.join(self.args)}\nexit {self.code}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")

    def json_lines(self) -> list[Event]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_rt(args: Sequence[str], env: dict[str, str], timeout: float = RUN_TIMEOUT,
           cwd: Path | None = None) -> Result:
    proc = subprocess.run([*RT, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL)
    return Result(list(args), proc.returncode, proc.stdout, proc.stderr)


class Running:
    """An rt process in the background; threads collect its stdout and stderr line by line
    (a select() on a buffered pipe would miss lines already read into the buffer)."""

    def __init__(self, proc: subprocess.Popen[str], args: list[str]) -> None:
        self.proc = proc
        self.args = args
        self.out: list[str] = []
        self.err: list[str] = []
        self._next = 0
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._collect, args=(stream, sink), daemon=True)
                         for stream, sink in ((proc.stdout, self.out), (proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _collect(self, stream: IO[str] | None, sink: list[str]) -> None:
        assert stream is not None
        for line in stream:
            with self._cond:
                sink.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = 30.0) -> str:
        """The next stdout line matching `pattern`, after the line the last call matched."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._next < len(self.out):
                    line = self.out[self._next]
                    self._next += 1
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self._readers[0].is_alive() and self._next >= len(self.out):
                    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.out)}"
                                         f"--- stderr\n{''.join(self.err)}")
                self._cond.wait(min(left, 0.5))

    def finish(self, timeout: float = RUN_TIMEOUT) -> Result:
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        close_pipes(self.proc)
        return Result(self.args, self.proc.returncode, "".join(self.out), "".join(self.err))


def start_rt(args: Sequence[str], env: dict[str, str]) -> Running:
    proc = subprocess.Popen([*RT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=env)
    return Running(proc, list(args))


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    close_pipes(proc)


def close_pipes(proc: subprocess.Popen[str]) -> None:
    """Close what the test read the process through: a pipe left open is a leaked file."""
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def wait_until(what: str, pred: Callable[[], Any], timeout: float,
               also: Callable[[], str] = lambda: "") -> Any:
    """Poll `pred` (cheap: a file read) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{also()}")
        time.sleep(0.02)


# --------------------------------------------------------------------------- checks


def sessions_json(env: dict[str, str]) -> list[Event]:
    res = run_rt(["sessions", "list", "--json", "--all"], env)
    assert res.code == 0, res
    rows: list[Event] = json.loads(res.stdout)
    return rows


def session_json(env: dict[str, str], session: str) -> Event:
    res = run_rt(["sessions", "show", session, "--json"], env)
    assert res.code == 0, res
    detail: Event = json.loads(res.stdout)
    return detail


def integrity(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def assert_one_clean_line(res: Result, *, code: int | None = None) -> str:
    """A failed run: non-zero exit, exactly one line on stderr starting `rt:`, no traceback."""
    assert res.code != 0, res
    if code is not None:
        assert res.code == code, res
    assert "Traceback" not in res.stderr + res.stdout, res
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rt: "), res
    return lines[0]


def check_replay(srv: Server, conn: int, stored_items: list[Event]) -> list[Event]:
    """OpenAI: connection `conn` starts with session.update, then one item.create per earlier
    item: user turns as input_text (their transcript), assistant turns as output_text (what was
    heard), with the stored ids (<= 32 chars). Returns the replayed items."""
    events = srv.received(conn=conn)
    assert events and events[0]["type"] == "session.update", events[:3]
    assert events[0]["session"]["type"] == "realtime"
    creates = []
    for e in events[1:]:
        if e["type"] != "conversation.item.create":
            break
        creates.append(e["item"])
    assert creates, f"nothing replayed on connection {conn}"
    assert [c["id"] for c in creates] == [i["local_id"] for i in stored_items[: len(creates)]]
    for sent, item in zip(creates, stored_items, strict=False):
        assert len(sent["id"]) <= 32 and sent["type"] == "message"
        (part,) = sent["content"]
        if item["role"] == "user":  # a turn whose transcript never came says how long it was
            said = item["transcript"] or \
                f"(the user spoke for {item['audio_ms'] / 1000:.1f} s; no transcript)"
            assert sent["role"] == "user" and part == {"type": "input_text", "text": said}
        else:
            assert sent["role"] == "assistant" and part == {"type": "output_text",
                                                            "text": item["heard_text"]}
    return creates


def no_traceback(res: Result) -> None:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res


def data_bytes(root: Path) -> Iterable[tuple[Path, bytes]]:
    for path in root.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def loud(pcm: npt.NDArray[np.int16], threshold: int = 500) -> npt.NDArray[np.intp]:
    return np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)


class ThreadedWsServer:
    """A `websockets` server on 127.0.0.1, port 0, in its own thread and loop, for tests that
    need a peer misbehaving in ways `rt serve` does not. Subclasses define `_handler` and may
    override `serve_options()`; use as a context manager."""

    def __init__(self) -> None:
        self.port = 0
        self.opened = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Future[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handler(self, ws: Any) -> None:
        raise NotImplementedError

    def serve_options(self) -> dict[str, Any]:
        return {}

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0, **self.serve_options()) as srv:
            self.port = next(iter(srv.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


async def until_one_ends(*jobs: Callable[[], Awaitable[None]]) -> None:
    """Run a proxy's pumps until one of them ends (a side closed), then stop the others."""
    tasks = [asyncio.create_task(job()) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
