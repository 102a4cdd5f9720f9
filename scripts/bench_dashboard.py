"""What the dashboard costs, in % of one CPU core (goal from the issue: <= 2 % on top of audio).

Two figures, both CPU time over wall time:

* render: in this process, the real `Dashboard` (Rich `Live`, 4 refreshes/s, alternate screen)
  drawing on a 120 x 40 terminal `Console` (force_terminal, truecolor, writing to /dev/null),
  while the event-loop side does what `DashboardPresenter.update` does 4 times a second: project a
  changing `CoreSnapshot` (levels moving, a streaming answer growing word by word, a 24-row
  transcript with a cut line, tokens and cost going up) into a `DashboardView`. Process CPU time
  (all threads) over ~5 s, minus the same loop over ~5 s without the dashboard (so it is only
  what the dashboard adds: the projection plus Rich rendering and writing).
* talk: the whole `rt talk` process against a local `rt serve`, same WAV in (speech, pauses,
  speech), WAV out, once with the dashboard (stdin/stdout a 120 x 40 pty, so the dashboard is
  chosen as for a user) and once with `--plain` on the same pty. CPU of the rt process from
  /proc/PID/stat (utime + stime, all threads) over the same window of the conversation, skipping
  start-up and shutdown. The figure is dashboard minus plain. The WAV devices stand in for the
  audio path; real devices cost more, and the same in both modes.

`python scripts/bench_dashboard.py` prints both; the `DASHBOARD` section feeds `make bench`.
"""

from __future__ import annotations

import fcntl
import math
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench_rows import Also, Measured, Section, at_most, print_rows, shared

from realtime_cli.testing.cpu import process_cpu_s

RT = Path(sys.executable).parent / "rt"
WIDTH, HEIGHT = 120, 40
REFRESH_HZ = 4
RATE = 24_000


# ------------------------------------------------------------------ rendering alone


def _snapshots(rows: int = 22) -> Callable[[int], Any]:
    """Snapshot number k of a conversation in progress (k = 0, 1, ... at 4 per second) with
    `rows` finished transcript lines before the current exchange."""
    from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
    from realtime_cli.core.states import SessionState
    from realtime_cli.usage import TokenUsage

    answer = ("It is sunny and warm in Paris today, about twenty-four degrees, with a light "
              "breeze from the west and clear skies until the evening, when clouds come in. ").split()
    history: list[TranscriptLine] = []
    for n in range((rows + 1) // 2):
        history.append(TranscriptLine("user", "user_audio", f"Question number {n}: what about "
                                      "the weather in another city tomorrow?"))
        history.append(TranscriptLine("assistant", "assistant", " ".join(answer),
                                      heard_chars=40 if n % 4 == 1 else None,
                                      interrupted=n % 4 == 1))

    def snapshot(k: int) -> Any:
        words = k % (len(answer) + 8)
        streaming = words < len(answer)
        lines = (*history[:rows], TranscriptLine("user", "user_audio", "And in London?"),
                 TranscriptLine("assistant", "assistant", " ".join(answer[: max(1, words)]),
                                streaming=streaming))
        return CoreSnapshot(
            session_id="a1b2c3d4e5f60718a1b2c3d4e5f60718", model="gpt-realtime", voice="marin",
            state=SessionState.RESPONDING if streaming else SessionState.LISTENING,
            connected=True, connection_index=1, reconnects=0, rollovers=0,
            expires_in_s=3500.0 - k / REFRESH_HZ, elapsed_s=100.0 + k / REFRESH_HZ, muted=False,
            push_to_talk=False, ptt_open=False, transcript=lines,
            turns_by_kind={"user_audio": 12, "assistant": 11},
            interruptions_by_kind={"speech_overlap": 2, "manual_cancel": 1},
            last_latency_ms=400.0 + k % 50, avg_latency_ms=380.0, time_to_ready_ms=800.0,
            tokens=TokenUsage(
                input_tokens=12_000 + 37 * k, output_tokens=4_000 + 11 * k,
                cached_tokens=6_000 + 20 * k, input_text_tokens=1_000,
                input_audio_tokens=11_000 + 37 * k, output_text_tokens=500,
                output_audio_tokens=3_500 + 11 * k, cached_text_tokens=500,
                cached_audio_tokens=5_500 + 20 * k),
            assistant_turns=11, user_turns=12,
        )

    return snapshot


def _levels(k: int) -> tuple[Any, Any]:
    from realtime_cli.audio.interfaces import SinkStatus, SourceLevels

    mic = SourceLevels(level_dbfs=-40 + 20 * math.sin(k / 3), speech=k % 16 < 8)
    sink = SinkStatus(item_id="item_a", played_samples=2400 * k, buffered_ms=80 + (k % 7) * 20,
                      level_dbfs=-25 + 8 * math.sin(k / 2), underruns=0, idle=False)
    return mic, sink


def _feed_loop(update: Callable[[Any, Any, Any], None], seconds: float, rows: int = 22) -> int:
    """Call `update(snapshot, mic, sink)` REFRESH_HZ times a second for `seconds`."""
    snapshot = _snapshots(rows)
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < seconds:
        mic, sink = _levels(k)
        update(snapshot(k), mic, sink)
        k += 1
        time.sleep(max(0.0, start + k / REFRESH_HZ - time.monotonic()))
    return k


def _cpu_pct(run: Callable[[], object], seconds: float) -> float:
    cpu0, wall0 = time.process_time(), time.monotonic()
    run()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert wall >= seconds * 0.9
    return 100.0 * cpu / wall


def bench_render_cpu(seconds: float = 5.0, rows: int = 22) -> tuple[float, float, int]:
    """(% of a core with the dashboard, % for the same loop without it, frames drawn), with
    `rows` transcript lines on record (22 + the current exchange fill a 40-line terminal)."""
    from rich.console import Console

    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.runtime.interactive import DashboardPresenter
    from realtime_cli.ui.dashboard import Dashboard

    idle = _cpu_pct(lambda: _feed_loop(lambda *_: None, seconds, rows), seconds)
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        console = Console(file=devnull, force_terminal=True, color_system="truecolor",
                          width=WIDTH, height=HEIGHT, legacy_windows=False)
        dashboard = Dashboard(console, refresh_per_second=REFRESH_HZ)
        frames = [0]
        renderable = dashboard.renderable

        def counted() -> Any:
            frames[0] += 1
            return renderable()

        dashboard._live.get_renderable = counted  # count what Live really draws
        config = SessionConfig()
        conv = SimpleNamespace(endpoint=SimpleNamespace(host="api.openai.com"),
                               config=config, prices=None)
        # the runner's side the presenter reads: the core's figures and rate limits, the clock
        runner = SimpleNamespace(core=SessionCore(config, session_id="bench", now=time.monotonic()),
                                 clock=SimpleNamespace(monotonic=time.monotonic))
        presenter = DashboardPresenter(dashboard, conv, runner)  # type: ignore[arg-type]
        presenter.update(_snapshots(rows)(0), *_levels(0))
        dashboard.start()
        try:
            busy = _cpu_pct(lambda: _feed_loop(presenter.update, seconds, rows), seconds)
        finally:
            dashboard.stop()
    return busy, idle, frames[0]


# ------------------------------------------------------------------ the whole rt talk


def _conversation_wav(path: Path, seconds: float) -> None:
    """Speech and pauses (several turns, answers playing for a while), then silence."""
    import asyncio

    from realtime_cli.server.speech import SpeechEngine

    engine = SpeechEngine("auto", warn=lambda _line: None)
    lines = ["What is the weather like in Paris today and what should I wear",
             "And what about London tomorrow morning",
             "Tell me something about the history of the city of Rome"]
    pcm = b"\x00\x00" * int(0.3 * RATE)
    for text in lines:
        pcm += asyncio.run(engine.synthesize(text)) + b"\x00\x00" * int(6.0 * RATE)
    pcm += b"\x00\x00" * max(0, int(seconds * RATE) - len(pcm) // 2)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)


def _run_talk(url: str, wav: Path, workdir: Path, plain: bool, window: tuple[float, float]) -> float:
    """% of one core used by `rt talk` between `window` seconds after it started."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    out = workdir / ("plain.wav" if plain else "dash.wav")
    argv = [str(RT), "talk", "--url", url, "--input", str(wav), "--output", str(out),
            "--data-dir", str(workdir / "data"), *(["--plain"] if plain else [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
    env.update(TERM="xterm-256color", COLUMNS=str(WIDTH), LINES=str(HEIGHT),
               RT_CONFIG=str(workdir / "config.toml"))
    (workdir / "config.toml").write_text("")
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # the terminal's side: read whatever rt draws
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data[-4096:])

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        time.sleep(window[0])
        cpu0, t0 = process_cpu_s(proc.pid), time.monotonic()
        time.sleep(window[1] - window[0])
        cpu1, t1 = process_cpu_s(proc.pid), time.monotonic()
        if cpu0 is None or cpu1 is None or proc.poll() is not None:
            raise RuntimeError(f"rt talk ended before the window ({'plain' if plain else 'dashboard'}); "
                               f"last output: {bytes(screen[-300:])!r}")
        if not plain and b"\x1b[?1049h" not in screen:
            raise RuntimeError("rt talk did not switch to the dashboard (alternate screen)")
        return 100.0 * (cpu1 - cpu0) / (t1 - t0)
    finally:
        if proc.poll() is None:
            os.write(master, b"q")  # quit like a user would (plain mode: the signal below)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(timeout=10)
        os.close(master)
        reader.join(timeout=2)


def bench_talk_cpu(window: tuple[float, float] = (3.0, 18.0)) -> tuple[float, float]:
    """(% of one core for rt talk with the dashboard, the same with --plain)."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        wav = workdir / "in.wav"
        _conversation_wav(wav, window[1] + 15)
        server = subprocess.Popen([str(RT), "serve", "--port", "0", "--quiet"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert server.stdout is not None
            match = re.search(r"(ws://\S+)", server.stdout.readline().decode())
            if match is None:
                raise RuntimeError("rt serve did not start")
            url = match.group(1)
            dash = _run_talk(url, wav, workdir, plain=False, window=window)
            plain = _run_talk(url, wav, workdir, plain=True, window=window)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return dash, plain


# ------------------------------------------------------------------ figures


DASHBOARD = Section("dashboard")
LONG_SESSION_ROWS = 500  # ~250 exchanges: an hour-long conversation


@shared
def _render(rows: int = 22) -> tuple[float, float, int]:
    return bench_render_cpu(rows=rows)


def _render_figure(rows: int) -> Measured:
    busy, idle, frames = _render(rows)
    return Measured(busy - idle, (Also("drawn", frames, "frames in 5 s"), Also("loop alone", idle, "%")))


@DASHBOARD.figure("dashboard rendering, 4 frames/s, 120x40, changing view", "% of a core", at_most(2))
def render_cpu() -> Measured:
    return _render_figure(22)


@DASHBOARD.figure(f"the same, {LONG_SESSION_ROWS} transcript lines on record", "% of a core", at_most(2))
def render_cpu_long() -> Measured:
    return _render_figure(LONG_SESSION_ROWS)


@DASHBOARD.figure("`rt talk` CPU, dashboard vs --plain (rt serve, WAV devices, 15 s)", "% of a core",
                  at_most(2))
def talk_dashboard_cpu() -> Measured:
    dash, plain = bench_talk_cpu()
    return Measured(dash - plain, (Also("dashboard", dash, "%"), Also("--plain", plain, "%")))


if __name__ == "__main__":
    print_rows([DASHBOARD])
