"""Audio figures measured on the test sound server (PulseAudio null sinks; see sound-server.sh).

Each function returns numbers and prints nothing; the `DEVICES` section turns them into rows of
`make bench`, and `python scripts/bench_audio.py` prints those rows alone (with the sound server
up: `bash scripts/with-sound.sh`). Ground truth is the null sink's monitor recorded raw with ADC
times (realtime_cli.testing.monitor).

* barge-in: flush() called (= speech_started arrived; rt flushes in the same step) -> the last
  sample of the voice on the monitor, p50/p99 ms over `trials`. The flush stops the stream,
  which drops what the device holds, and starts it again. What the listener hears ends when the
  stream has stopped, so rt's part is flush() -> the stream stopped (its finished callback, which
  PortAudio runs once the host dropped the buffer); the restart (flush -> the restarted stream's
  first callback, silence) is shown beside it, as it costs the next answer, not the barge-in.
* truncation error: status().played_samples against the audio that had really reached the
  device at the same instant (ms, p50/max), plus how much more is heard after the flush than
  the played position it left (what the sink had taken before the drop).
* answer start: play() of an item while the stream runs (silence) -> its first sample on the
  monitor: the price of the device buffer, paid once per answer (p50/p99 ms).
* client CPU: process CPU time / wall time while capturing at 48 kHz stereo, playing at 48 kHz
  stereo and resampling both ways (the audio layer alone, in this process), and the whole
  `rt talk --plain` process on the null sinks while a conversation runs (rt serve answering
  spoken questions), % of one core. A floor opens the same streams with callbacks that do
  nothing: what the audio stack costs this machine before rt does any work. rt's own cost is
  the whole `rt talk` (`--echo off`, and `--echo aec`) minus the floor of the streams it opens
  (the same formats, blocks, device buffers and stream kinds), measured right after it: the
  median of three such rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_rows import Also, Measured, Section, at_most, pct, print_rows, shared

from realtime_cli.audio.capture import MicSource
from realtime_cli.audio.devices import open_stream, resolve_device, stream_format
from realtime_cli.audio.jitter import FADE_MS
from realtime_cli.audio.playback import OUTPUT_BLOCK_MS, OUTPUT_LATENCY_S, SpeakerSink
from realtime_cli.testing.cpu import process_cpu_s
from realtime_cli.testing.monitor import MonitorRecorder, Trace, locate
from realtime_cli.testing.talk import QUESTION, RT, play, rt_talk, speech_wav

MIC_BLOCK_MS = 20.0  # MicSource's device block
SINK, MONITOR = "pulse:rt_sink", "pulse:rt_sink.monitor"
SINK48, MONITOR48 = "pulse:rt_sink48", "pulse:rt_sink48.monitor"
RATE = 24_000


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.standard_normal(int(seconds * RATE)) * 3000), -32768, 32767).astype(np.int16)


async def _until(predicate: Callable[[], bool], limit: float) -> None:
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - status() is a snapshot
            await asyncio.sleep(0.002)


@dataclass
class BargeIn:
    """Per trial, in ms."""

    total: list[float] = field(default_factory=list)  # flush -> voice silent on the monitor
    rt_part: list[float] = field(default_factory=list)  # flush -> the stream stopped (buffer dropped)
    restart: list[float] = field(default_factory=list)  # flush -> the restarted stream's first callback
    errors: list[float] = field(default_factory=list)  # played position at the flush - truth
    after: list[float] = field(default_factory=list)  # heard after the flush
    start: list[float] = field(default_factory=list)  # play() -> the item's first sample heard


class _PullLog:
    """Wraps the sink's feed: (stream time, DAC time, block) of every callback, and the index of
    the first pull after each flush, marked inside the feed's flush, which the sink calls while
    its stream is stopped (no lock is held across the sink's flush: it waits for the callback)."""

    def __init__(self, sink: SpeakerSink) -> None:
        feed = sink._feed
        assert feed is not None
        self.sink = sink
        self.calls: list[tuple[float, float, np.ndarray]] = []
        self.marks: list[int] = []
        pull, flush = feed.pull, feed.flush

        def logged(frames: int, start: float) -> np.ndarray:
            block = pull(frames, start)
            self.calls.append((sink.clock(), start, block.copy()))
            return block

        def marked(dropped_at: float | None = None) -> None:
            self.marks.append(len(self.calls))
            flush(dropped_at)

        feed.pull = logged  # type: ignore[method-assign]
        feed.flush = marked  # type: ignore[method-assign]

    def flush(self) -> int:
        """sink.flush(); returns the index in `calls` of the first pull after it."""
        self.sink.flush()
        return self.marks[-1]


def _feed_ahead(sink: SpeakerSink, audio: np.ndarray, fed: int, until_s: float) -> int:
    """Queue `audio` from sample `fed` up to `until_s` seconds of it in 100 ms deltas, as the
    service sends them; the samples queued so far."""
    chunk = RATE // 10
    while fed < len(audio) and fed / RATE < until_s:
        sink.play("long", audio[fed : fed + chunk].tobytes())
        fed += chunk
    return fed


async def _barge_in_trials(trials: int, block_ms: float = OUTPUT_BLOCK_MS) -> BargeIn:
    sink = SpeakerSink(SINK, block_ms=block_ms)
    await sink.start()
    log = _PullLog(sink)
    rec = MonitorRecorder(MONITOR).start()
    fade = round(sink.rate * FADE_MS / 1000)
    phase = np.random.default_rng(7)
    out = BargeIn()
    try:
        if not rec.first_block.wait(3):
            raise RuntimeError("the monitor delivers nothing: is the sound server up?")
        for k in range(trials):
            item = _noise(1.0, seed=k)
            begin = len(rec.signal())
            item_id = f"item{k}"
            queued_at = sink.clock()
            sink.play(item_id, item.tobytes())
            target = RATE * (0.2 + 0.01 * (k % 7))  # vary the phase within a block

            def reached(item_id: str = item_id, target: float = target) -> bool:
                st = sink.status()
                return st.item_id == item_id and st.played_samples >= target

            await _until(reached, 3)
            # speech_started arrives at any phase of the device's callbacks
            await asyncio.sleep(float(phase.uniform(0, block_ms / 1000)))
            flushed_at = sink.clock()
            first_after = log.flush()
            at_flush = sink.status().played_samples
            await _until(lambda: sink.status().idle, 2)
            await asyncio.sleep(0.12)  # the monitor runs ~60 ms behind the DAC time
            got = rec.signal()[begin:]
            start = locate(got, item[:4800])
            end = int(np.flatnonzero(got)[-1]) + 1
            trace = Trace(rec, item, since=begin)
            out.total.append((trace.time_of(begin + end - 1) - flushed_at) * 1000)
            out.errors.append((at_flush - trace.heard_at(flushed_at)) / 24)
            out.after.append((end - start - at_flush) / 24)
            out.start.append((trace.time_of(begin + start) - queued_at) * 1000)
            # the first callback after the flush (the restarted stream): only silence, or the
            # fade of a sink that keeps a tail
            now, _, block = log.calls[first_after]
            if np.any(block[fade:]):
                raise AssertionError("the block after a flush carried voice past the fade")
            out.restart.append((now - flushed_at) * 1000)
            dropped_at = sink._dropped_at  # stamped in the stream's finished callback
            if dropped_at is None:
                raise AssertionError("the flush did not stop the stream")
            out.rt_part.append((dropped_at - flushed_at) * 1000)
    finally:
        rec.stop()
        await sink.close()
    rec.check_timing()
    return out


async def _cpu(seconds: float, block_ms: float = OUTPUT_BLOCK_MS) -> float:
    sink = SpeakerSink(SINK48, samplerate=48_000, channels=2, block_ms=block_ms)
    mic = MicSource(MONITOR48, samplerate=48_000, channels=2)
    await sink.start()
    await mic.start()
    audio = _noise(seconds + 1, seed=99)
    try:
        await asyncio.wait_for(mic.first_block.wait(), 3)
        loop = asyncio.get_running_loop()
        wall0, cpu0 = loop.time(), time.process_time()
        fed = 0
        while loop.time() - wall0 < seconds:
            fed = _feed_ahead(sink, audio, fed, loop.time() - wall0 + 0.1)
            await mic.read()
            mic.levels()
            sink.status()
        return (time.process_time() - cpu0) / (loop.time() - wall0) * 100
    finally:
        await mic.close()
        await sink.close()


def floor_cpu(speaker: str, microphone: str, fmt: tuple[int, int] | None = None, seconds: float = 8.0,
              block_ms: float = OUTPUT_BLOCK_MS) -> float:
    """% of one core for an output and an input stream opened the way rt opens them (the same
    formats, blocks, device buffers and stream kinds as SpeakerSink and MicSource), with
    callbacks that do nothing (output: zeros): what PortAudio and PulseAudio cost before rt does
    any work. `fmt` (rate, channels) for both, or None for the format rt picks for each device
    by itself (as `rt talk` does)."""
    streams = []
    try:
        out = resolve_device(speaker, "output")
        rate, channels = fmt or stream_format(out, "output", None, None)
        streams.append(open_stream(out, "output", rate, channels, block_ms,
                                   lambda data, *_: data.fill(0), lambda: None,
                                   latency=OUTPUT_LATENCY_S))
        mic = resolve_device(microphone, "input")
        rate, channels = fmt or stream_format(mic, "input", None, None)
        streams.append(open_stream(mic, "input", rate, channels, MIC_BLOCK_MS, lambda *_: None,
                                   lambda: None, raw=True))
        time.sleep(1.0)  # both running
        wall0, cpu0 = time.monotonic(), time.process_time()
        time.sleep(seconds)
        return (time.process_time() - cpu0) / (time.monotonic() - wall0) * 100
    finally:
        for stream in streams:
            stream.close(ignore_errors=True)


def talk_cpu(seconds: float = 20.0, echo: str = "aec") -> float:
    """% of one core used by a whole `rt talk --plain` process on the null sinks (mic
    rt_sink.monitor, speaker rt_sink48) while it talks with `rt serve`: a spoken question into
    rt_sink every few seconds, the answers played. Start-up (imports) is not counted. 20 s:
    over 10 s the figure moved by 1.5 % of a core from run to run."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        speech_wav(QUESTION, wav)
        serve = subprocess.Popen([*RT, "serve", "--port", "0", "--quiet", "--pace", "1"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert serve.stdout is not None
            url = serve.stdout.readline().split()[-1]
            with rt_talk(url, Path(tmp) / "data", "--no-save", "--echo", echo) as talk:
                talk.wait_line(r"state: ready", 30)
                cpu0, wall0 = process_cpu_s(talk.proc.pid), time.monotonic()
                while time.monotonic() - wall0 < seconds:
                    if play(wav).wait(30) != 0:
                        raise RuntimeError("paplay could not play the question into rt_sink")
                    time.sleep(2.0)  # the answer plays (rt serve at real-time pace)
                cpu1 = process_cpu_s(talk.proc.pid)
                wall = time.monotonic() - wall0
                if talk.proc.poll() is not None or cpu0 is None or cpu1 is None:
                    raise RuntimeError(f"rt talk exited early ({talk.proc.returncode})")
                return (cpu1 - cpu0) / wall * 100
        finally:
            serve.terminate()
            serve.wait(10)


# ---------------------------------------------------------------- `make bench` rows

DEVICES = Section("audio devices")
TRIALS = 30
CORE = "% of a core"
_DEF = f"{OUTPUT_BLOCK_MS:g} ms blocks (default)"
ALT_BLOCK_MS = 5.0  # a small block, for comparison: what the block costs and whether barge-in cares
_ALT = f"{ALT_BLOCK_MS:g} ms playback blocks"


@shared
def _barge(block_ms: float) -> BargeIn:
    return asyncio.run(_barge_in_trials(TRIALS, block_ms))


@shared
def _audio_cpu(block_ms: float) -> float:
    return asyncio.run(_cpu(8.0, block_ms))


TALK_ROUNDS = 3
TALK_ECHO = ("off", "aec")


@dataclass(frozen=True)
class TalkCpu:
    """Per round: the whole `rt talk` for each echo mode, and the floor of its streams."""

    whole: dict[str, list[float]]
    floor: list[float]

    def part(self, echo: str) -> list[float]:
        return [w - f for w, f in zip(self.whole[echo], self.floor, strict=True)]


@shared
def _talk_rounds() -> TalkCpu:
    """`TALK_ROUNDS` rounds of `rt talk` with each echo mode and the floor under it (its two
    devices, in the formats it opens), taken one after the other within each round: the floor
    alone moved between 1.3 % and 2.6 % of a core from one minute to the next on a busy day, so
    each part is a whole minus the floor of its own round, and the rows give medians."""
    whole: dict[str, list[float]] = {echo: [] for echo in TALK_ECHO}
    floor: list[float] = []
    for _ in range(TALK_ROUNDS):
        for echo in TALK_ECHO:
            whole[echo].append(talk_cpu(echo=echo))
        floor.append(floor_cpu(SINK48, MONITOR, seconds=15.0))
    return TalkCpu(whole, floor)


def _talk_whole(echo: str) -> Measured:
    whole = _talk_rounds().whole[echo]
    return Measured(statistics.median(whole),
                    (Also("lowest", min(whole), "%"), Also("highest", max(whole), "%")))


def _talk_part(echo: str) -> Measured:
    rounds = _talk_rounds()
    parts = rounds.part(echo)
    return Measured(statistics.median(parts), (
        Also("whole", statistics.median(rounds.whole[echo]), "%"),
        Also("floor", statistics.median(rounds.floor), "%"),
        Also("lowest", min(parts), "%"), Also("highest", max(parts), "%")))


def _barge_in(block_ms: float) -> Measured:
    b = _barge(block_ms)
    return Measured(pct(b.total, 99), (
        Also("p50", pct(b.total, 50), "ms"), Also("rt p50", pct(b.rt_part, 50), "ms"),
        Also("rt p99", pct(b.rt_part, 99), "ms"), Also("restart p50", pct(b.restart, 50), "ms")))


def _truncation(block_ms: float) -> Measured:
    """The played position a flush leaves (audio_end_ms) against all the voice that reached the
    sink, and beside it the position's error at the moment of the flush."""
    b = _barge(block_ms)
    errors = [abs(e) for e in b.after]
    return Measured(max(errors), (Also("p50", pct(errors, 50), "ms"),
                                  Also("at the flush p50", pct([abs(e) for e in b.errors], 50), "ms")))


@DEVICES.figure(f"barge-in: speech_started (flush) -> voice silent on the device, {_DEF}", "ms",
                at_most(15), stat="p99")
def barge_in_default() -> Measured:
    return _barge_in(OUTPUT_BLOCK_MS)


@DEVICES.figure(f"  rt's part: flush -> the stream stopped (the device's buffer dropped), {_DEF}", "ms",
                at_most(8), stat="p99")
def barge_in_rt_part() -> Measured:
    b = _barge(OUTPUT_BLOCK_MS)
    return Measured(pct(b.rt_part, 99), (
        Also("p50", pct(b.rt_part, 50), "ms"), Also("restart p50", pct(b.restart, 50), "ms"),
        Also("restart p99", pct(b.restart, 99), "ms")))


@DEVICES.figure(f"barge-in, {_ALT} (audio.output_block_ms = {ALT_BLOCK_MS:g})", "ms", at_most(15),
                stat="p99")
def barge_in_alt() -> Measured:
    return _barge_in(ALT_BLOCK_MS)


@DEVICES.figure(f"truncation error: played position after a flush vs the voice that reached the sink, {_DEF}",
                "ms", at_most(5), stat="max")
def truncation_default() -> Measured:
    return _truncation(OUTPUT_BLOCK_MS)


@DEVICES.figure(f"truncation error, {_ALT}", "ms", at_most(5), stat="max")
def truncation_alt() -> Measured:
    return _truncation(ALT_BLOCK_MS)


def _answer_start(block_ms: float) -> Measured:
    b = _barge(block_ms)
    return Measured(pct(b.start, 50), (Also("p99", pct(b.start, 99), "ms"),))


@DEVICES.figure(f"answer start: audio queued -> its first sample at the sink, {_DEF}, "
                f"{OUTPUT_LATENCY_S * 1000:g} ms device buffer", "ms", stat="p50")
def answer_start_default() -> Measured:
    return _answer_start(OUTPUT_BLOCK_MS)


@DEVICES.figure(f"answer start, {_ALT}", "ms", stat="p50")
def answer_start_alt() -> Measured:
    return _answer_start(ALT_BLOCK_MS)


@DEVICES.figure(f"client CPU, audio layer: 48 kHz stereo capture + playback + resampling, {_DEF}",
                CORE, at_most(5))
def audio_layer_cpu() -> float:
    return _audio_cpu(OUTPUT_BLOCK_MS)


@DEVICES.figure(f"client CPU, audio layer, {_ALT}", CORE, at_most(5))
def audio_layer_cpu_alt() -> float:
    return _audio_cpu(ALT_BLOCK_MS)


@DEVICES.figure(f"  floor: the same two streams with empty callbacks (PortAudio + PulseAudio, no rt), {_DEF}",
                CORE)
def audio_layer_floor() -> float:
    return floor_cpu(SINK48, MONITOR48, (48_000, 2))


_ROUNDS = f"median of {TALK_ROUNDS}"


@DEVICES.figure("client CPU, whole `rt talk --plain --echo off` talking with rt serve (mic 24 kHz mono, "
                "speaker 48 kHz stereo)", CORE, at_most(5), stat=_ROUNDS)
def talk_cpu_echo_off() -> Measured:
    return _talk_whole("off")


@DEVICES.figure("  rt's part: the same minus the floor of its two streams (empty callbacks, its round's)",
                CORE, at_most(2), stat=_ROUNDS)
def talk_cpu_above_floor() -> Measured:
    return _talk_part("off")


@DEVICES.figure("the same with echo cancelling (--echo aec, the default on real devices)", CORE, stat=_ROUNDS)
def talk_cpu_aec() -> Measured:
    return _talk_whole("aec")


@DEVICES.figure("  rt's part with --echo aec: minus the same floor", CORE, at_most(4), stat=_ROUNDS)
def talk_cpu_aec_above_floor() -> Measured:
    return _talk_part("aec")


# ---------------------------------------------------------------- long, continuous playback

LONG_PLAYBACK_S = 600.0


STALL_WATCH = """
import sys, time
# another process's view of the machine: how late its own 2 ms sleeps wake up
begin = time.monotonic()
while time.monotonic() - begin < float(sys.argv[1]):
    t, wall = time.monotonic(), time.time()
    time.sleep(0.002)
    over = time.monotonic() - t - 0.002
    if over > 0.02:  # printed at once: the watcher is stopped with a signal
        print(f"{wall:.4f} {over:.4f}", flush=True)
"""


def _steal_ticks() -> int:
    """Time the hypervisor ran something else on this machine's CPUs (USER_HZ ticks)."""
    return int(Path("/proc/stat").read_text().split()[8])


async def _continuous(seconds: float, watch: subprocess.Popen[str]) -> dict[str, float]:
    """`seconds` of one continuous answer through SpeakerSink (default blocks and device buffer);
    the monitor recorder counts what went missing.

    The answer never touches zero (a tone on an offset), so any run of zeros on the monitor
    between its first and last sample is a gap the listener heard. It is fed as the service
    sends it, ahead of real time (deltas of 100 ms, up to 2 s ahead), so only the device side
    can starve.

    A late callback is attributed: PortAudio's thread woke late (`currentTime`, stamped before
    any Python runs), or it woke on time and waited for the interpreter; and a separate
    process (`watch`, running STALL_WATCH), which never shares rt's interpreter, reports its own
    late wake-ups, so a stall it saw at the same moment was the machine's (the scheduler, or the
    hypervisor: steal time)."""
    sink = SpeakerSink(SINK)
    size = round((seconds + 60) * 1000 / OUTPUT_BLOCK_MS)
    entered, woke = np.zeros(size), np.zeros(size)
    count = 0
    inner = sink._callback

    def timed(outdata: np.ndarray, frames: int, stamps: Any, status: Any) -> None:
        nonlocal count
        if count < size and stamps.currentTime:
            entered[count], woke[count] = time.time(), stamps.currentTime  # PortAudio: wall clock
            count += 1
        inner(outdata, frames, stamps, status)

    sink._callback = timed  # type: ignore[method-assign,assignment]
    rec = MonitorRecorder(MONITOR).start()
    t = np.arange(round(RATE * (seconds + 1))) / RATE
    audio = (9000 + 6000 * np.sin(2 * np.pi * 330 * t)).astype(np.int16)
    steal0 = _steal_ticks()
    try:
        await sink.start()
        if not rec.first_block.wait(3):
            raise RuntimeError("the monitor delivers nothing: is the sound server up?")
        loop = asyncio.get_running_loop()
        begin, wall0, fed = len(rec.signal()), loop.time(), 0
        while fed < len(audio):
            fed = _feed_ahead(sink, audio, fed, loop.time() - wall0 + 2.0)
            await asyncio.sleep(0.05)
        sink.end_of_item("long")
        await _until(lambda: sink.status().idle, 10)
        await asyncio.sleep(0.3)  # the monitor runs behind the DAC
        reported = sink.status().underruns
    finally:
        rec.stop()
        await sink.close()
        watch.terminate()
    steal = (_steal_ticks() - steal0) * 10  # ms, over both CPUs
    stalls = np.array([[float(x) for x in line.split()] for line in watch.communicate()[0].split("\n")
                       if line.strip()]).reshape(-1, 2)
    got = rec.signal()[begin:]
    sound = np.flatnonzero(got)
    heard = got[sound[0] : sound[-1] + 1] if sound.size else got
    silent = heard == 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    runs = edges[1::2] - edges[::2]  # lengths of the zero runs
    gaps = runs[runs >= RATE // 1000]  # 1 ms or more of nothing inside the answer
    waits = np.diff(entered[:count]) * 1000
    buffer_ms = sink._latency * 1000  # what the stream reports holding, not what was asked
    late = np.flatnonzero(waits > buffer_ms) + 1  # callbacks that came too late
    wake_waits = np.diff(woke[:count]) * 1000
    stall_ends = stalls[:, 0] + stalls[:, 1] + 0.002
    machine = sum(1 for k in late if np.any((stalls[:, 0] < entered[k]) & (stall_ends > woke[k - 1])))
    return {"seconds": seconds, "reported": float(reported), "gaps": float(len(gaps)),
            "gap_ms": float(gaps.sum() / (RATE / 1000)), "heard_s": len(heard) / RATE,
            "recorder_overflows": float(rec.overflows),
            "longest_wait_ms": float(waits.max(initial=0.0)),
            "late_callbacks": float(len(late)),
            "late_wakeups": float(np.count_nonzero(wake_waits[late - 1] > buffer_ms)),
            "late_seen_elsewhere": float(machine),
            "longest_interpreter_wait_ms": float(((entered - woke)[:count] * 1000).max(initial=0.0)),
            "other_process_stalls": float(len(stalls)),
            "longest_other_stall_ms": float(stalls[:, 1].max(initial=0.0) * 1000),
            "steal_ms": float(steal)}


LONG_PLAYBACK = Section("playback, long run")


@shared
def _long_playback(seconds: float = LONG_PLAYBACK_S) -> dict[str, float]:
    """`_continuous` while another process keeps one core busy."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    watch = subprocess.Popen([sys.executable, "-c", STALL_WATCH, str(seconds + 15)],
                             stdout=subprocess.PIPE, text=True)
    try:
        return asyncio.run(_continuous(seconds, watch))
    finally:
        busy.kill()
        busy.wait()
        watch.kill()
        watch.wait()


@LONG_PLAYBACK.figure(f"continuous playback, {LONG_PLAYBACK_S / 60:g} min with one core busy: underruns "
                      "reported by PortAudio or rt", "underruns", at_most(0))
def long_playback_reported() -> Measured:
    r = _long_playback()
    return Measured(r["reported"], (
        Also("heard", r["heard_s"], "s"),
        Also("longest wait between callbacks", r["longest_wait_ms"], "ms"),
        Also("waits longer than the device buffer", r["late_callbacks"]),
        Also("of which PortAudio's thread woke late", r["late_wakeups"]),
        Also("of which another process stalled at the same time", r["late_seen_elsewhere"]),
        Also("longest wait for the interpreter", r["longest_interpreter_wait_ms"], "ms"),
        Also("another process's stalls over 20 ms", r["other_process_stalls"]),
        Also("its longest", r["longest_other_stall_ms"], "ms"),
        Also("steal time", r["steal_ms"], "ms")))


@LONG_PLAYBACK.figure("  the same: gaps of 1 ms or more on the monitor (an independent recorder)", "gaps",
                      at_most(0))
def long_playback_gaps() -> Measured:
    r = _long_playback()
    return Measured(r["gaps"], (Also("missing", r["gap_ms"], "ms"),
                                Also("recorder overflows", r["recorder_overflows"])))


if __name__ == "__main__":
    if "--long-playback" in sys.argv[1:]:
        print_rows([LONG_PLAYBACK])
    else:
        print_rows([DEVICES])
