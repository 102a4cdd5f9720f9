"""`make bench`: measured performance figures of rt, printed as one table.

Targets come from the issues; nothing here asserts, it measures and prints. Sections that need
something this machine lacks (a sound server) print "n/a" with the reason. The table is also
written to bench/results.json (with the time, the commit and the machine), and the previous
run's file, if any, fills a "previous" column so figures can be compared run to run.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

Row = tuple[str, str, str]  # (figure, value, goal)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# ---------------------------------------------------------------- session core throughput


def core_event_mix(turns: int = 200) -> list[Any]:
    """A realistic session: per turn 5 s of mic audio, VAD events, a 5 s answer in 100 ms deltas,
    transcript deltas, playback progress every 20 ms, and the done events."""
    from realtime_cli.core import inputs as inp
    from realtime_cli.protocol import events as ev

    mic = b"\x01\x00" * 480
    delta = b"\x02\x00" * 2400
    events: list[Any] = [
        inp.Opened(now=0.0),
        inp.ServerMessage(now=0.0, event=ev.SessionCreated(session_id="s", expires_at=None,
                                                           session={})),
        inp.ServerMessage(now=0.0, event=ev.SessionUpdated(session={})),
    ]
    t = 0.0
    for n in range(turns):
        rid, iid, uid = f"resp_{n}", f"item_a{n}", f"item_u{n}"
        sent_ms = n * 350 * 20  # 350 mic frames of 20 ms per turn so far: VAD positions grow
        events.append(inp.ServerMessage(now=t, event=ev.SpeechStarted(audio_start_ms=sent_ms,
                                                                      item_id=uid)))
        for _ in range(100):
            t += 0.02
            events.append(inp.MicAudio(now=t, pcm=mic))
        events += [
            inp.ServerMessage(now=t, event=ev.SpeechStopped(audio_end_ms=sent_ms + 2000,
                                                            item_id=uid)),
            inp.ServerMessage(now=t, event=ev.InputAudioBufferCommitted(item_id=uid)),
            inp.ServerMessage(now=t, event=ev.ResponseCreated(response_id=rid)),
            inp.ServerMessage(now=t, event=ev.OutputItemAdded(response_id=rid, item=ev.Item(
                id=iid, type="message", role="assistant", status="in_progress"))),
        ]
        for _ in range(50):
            events.append(inp.ServerMessage(now=t, event=ev.OutputAudioDelta(
                response_id=rid, item_id=iid, content_index=0, pcm=delta)))
            events.append(inp.ServerMessage(now=t, event=ev.OutputTranscriptDelta(
                response_id=rid, item_id=iid, delta="word ")))
        events += [
            inp.ServerMessage(now=t, event=ev.OutputAudioDone(response_id=rid, item_id=iid)),
            inp.ServerMessage(now=t, event=ev.InputTranscriptionCompleted(item_id=uid,
                                                                          transcript="hello")),
            inp.ServerMessage(now=t, event=ev.ResponseDone(response_id=rid, status="completed")),
        ]
        for k in range(250):
            t += 0.02
            events.append(inp.Playback(now=t, item_id=iid, played_samples=(k + 1) * 480,
                                       idle=False))
            events.append(inp.MicAudio(now=t, pcm=mic))
        events.append(inp.Playback(now=t, item_id=None, played_samples=0, idle=True))
        events.append(inp.Tick(now=t))
    return events


def bench_core() -> list[Row]:
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore

    events = core_event_mix()
    rates = []
    for _ in range(3):
        core = SessionCore(SessionConfig(idle_timeout_s=None), session_id="b" * 32, now=0.0)
        start = time.perf_counter()
        for e in events:
            core.handle(e)
        rates.append(len(events) / (time.perf_counter() - start))
    return [("session core throughput (realistic mix)", f"{max(rates):,.0f} events/s",
             ">= 100,000 events/s")]


# ---------------------------------------------------------------- cold start


def bench_cold_start() -> list[Row]:
    def run(argv: list[str]) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    base = run([sys.executable, "-c", "pass"])
    rt_bin = Path(sys.executable).parent / "rt"
    helpms = run([str(rt_bin), "--help"])
    return [("`rt --help` cold start (median of 7)", f"{helpms:.0f} ms (python -c pass: {base:.0f} ms)",
             "<= 150 ms")]


# ---------------------------------------------------------------- client-added latency


async def _latency_run(frames: int = 300, deltas: int = 300) -> tuple[list[float], list[float]]:
    """A loopback server stamps when each append arrives and each delta leaves; the client
    stamps when the mic frame entered and when the delta was queued for playback."""
    import base64

    from websockets.asyncio.server import serve

    from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.runtime.runner import Runner
    from realtime_cli.transport.endpoint import Endpoint

    mic_in: list[float] = []
    append_seen: list[tuple[int, float]] = []
    delta_sent: list[float] = []
    delta_queued: list[float] = []
    done = asyncio.Event()

    async def handler(ws: Any) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e", "session": {
            "id": "sess_1", "object": "realtime.session", "expires_at": int(time.time()) + 3600}}))
        async for msg in ws:
            event = json.loads(msg)
            if event["type"] == "session.update":
                await ws.send(json.dumps({"type": "session.updated", "event_id": "e2",
                                          "session": event["session"]}))
                await ws.send(json.dumps({"type": "response.created", "event_id": "e3",
                                          "response": {"id": "r1", "status": "in_progress"}}))
            elif event["type"] == "input_audio_buffer.append":
                index = int.from_bytes(base64.b64decode(event["audio"])[:2], "little")
                append_seen.append((index, time.perf_counter()))
                if len(append_seen) == frames:
                    tasks.append(asyncio.create_task(send_deltas(ws)))

    tasks: list[asyncio.Task[None]] = []

    async def send_deltas(ws: Any) -> None:
        pcm = base64.b64encode(b"\x00\x01" * 480).decode()
        for _ in range(deltas):
            delta_sent.append(time.perf_counter())
            await ws.send(json.dumps({
                "type": "response.output_audio.delta", "event_id": "d", "response_id": "r1",
                "item_id": "i1", "output_index": 0, "content_index": 0, "delta": pcm}))
            await asyncio.sleep(0.002)
        done.set()

    class Source:
        exhausted = False

        async def start(self) -> None: ...

        async def read(self) -> bytes:
            await asyncio.sleep(0.004)
            if done.is_set():
                await asyncio.sleep(3600)
            mic_in.append(time.perf_counter())
            return (len(mic_in) - 1).to_bytes(2, "little") + b"\x00\x00" * 479

        def levels(self) -> SourceLevels:
            return SourceLevels(level_dbfs=-120.0, speech=False)

        async def close(self) -> None: ...

    class Sink:
        async def start(self) -> None: ...

        def play(self, item_id: str, pcm: bytes) -> None:
            delta_queued.append(time.perf_counter())

        def end_of_item(self, item_id: str) -> None: ...

        def flush(self) -> None: ...

        def status(self) -> SinkStatus:
            return SinkStatus(item_id=None, played_samples=0, buffered_ms=0, level_dbfs=-120,
                              underruns=0, idle=True)

        async def close(self) -> None: ...

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        core = SessionCore(SessionConfig(idle_timeout_s=None), session_id="c" * 32, now=0.0)
        runner = Runner(core, Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime", kind="custom"),
                        Source(), Sink())
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.1)
        runner.stop(0, "bench done")
        await asyncio.wait_for(task, 10)
    # each frame carries its index in its first sample (frames before `ready` are not sent)
    up = [(seen - mic_in[index]) * 1000 for index, seen in append_seen]
    down = [(b - a) * 1000 for a, b in zip(delta_sent, delta_queued, strict=False)]
    return up, down


def bench_latency() -> list[Row]:
    up, down = asyncio.run(_latency_run())
    return [
        ("mic frame in -> append on the socket (loopback)",
         f"p50 {pct(up, 50):.2f} ms, p99 {pct(up, 99):.2f} ms", "p99 <= 5 ms"),
        ("audio delta received -> queued for playback",
         f"p50 {pct(down, 50):.2f} ms, p99 {pct(down, 99):.2f} ms", "p99 <= 5 ms"),
    ]


# ---------------------------------------------------------------- other sections


def optional(name: str, fn: Callable[[], list[Row]]) -> list[Row]:
    try:
        return fn()
    except Exception as exc:  # a missing sound server must not hide the other figures
        return [(name, f"n/a ({type(exc).__name__}: {exc})"[:90], "")]


def echo() -> list[Row]:
    """The simulated rooms of scripts/echo_sim.py: 100 assistant turns per run, one run per seed."""
    import echo_sim

    plan = (("off", (0,)), ("aec", SEEDS), ("half-duplex", (0,)))
    # one run per core (each is deterministic); spawned, as earlier figures leave threads behind
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = {(mode, seed): pool.submit(echo_sim.run, mode, 100, seed)
                for mode, seeds in plan for seed in seeds}
        results = {key: future.result() for key, future in done.items()}
    rows: list[Row] = []
    for mode, seeds in plan:
        runs = [results[mode, seed] for seed in seeds]
        turns = sum(r["turns"] for r in runs)
        cuts = sum(r["self_interruptions"] for r in runs)
        barge = sum(r["barge_ins"] for r in runs)
        heard = sum(r["barge_ins"] * r["barge_ins_detected_pct"] / 100 for r in runs)
        each = ", ".join(f"{r['barge_ins_detected_pct']:.1f}" for r in runs)
        spread = f" (per 100-turn run: {each})" if len(runs) > 1 else ""
        rows.append((f"echo {mode}: self-interruptions per 100 assistant turns ({turns:.0f} turns, "
                     "simulated rooms)", f"{cuts * 100 / turns:.1f}", "<= 1 (aec)"))
        rows.append((f"echo {mode}: real barge-ins detected ({barge:.0f} in the runs)",
                     f"{heard * 100 / barge:.1f} %{spread}", ">= 95 % (aec)"))
        rows.append((f"echo {mode}: cost per 20 ms microphone block",
                     f"{max(r['us_per_block'] for r in runs):.0f} µs", ""))
    return rows


# Five sets of rooms for the mode that has goals: one lucky seed proves little; rt's echo
# handling was tuned on the first three (and one miss in the fourth), the fifth only measured.
SEEDS = (0, 1, 2, 3, 4)


def echo_devices() -> list[Row]:
    """rt talk itself on the null sinks, in the simulated room (scripts/bench_echo_devices.py)."""
    import bench_echo_devices

    r = bench_echo_devices.run()
    return [
        (f"echo aec, rt talk on real devices in the simulated room: self-interruptions "
         f"({r['turns']:.0f} assistant turns)", f"{r['self_interruptions']:.0f}", "<= 1 per 100"),
        ("echo aec, rt talk on real devices: barge-ins detected within 1.5 s",
         f"{r['detected']:.0f} of {r['barge_ins']:.0f}", ">= 95 %"),
    ]


RESULTS = ROOT / "bench" / "results.json"


def _machine() -> dict[str, Any]:
    import os
    import platform

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit or None,
            "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count()}


def _previous() -> dict[str, str]:
    try:
        old = json.loads(RESULTS.read_text())
        return {r["figure"]: r["measured"] for r in old["rows"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def main() -> int:
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("session core", bench_core),
        ("cold start", bench_cold_start),
        ("client latency", bench_latency),
    ]
    try:
        import bench_extra

        sections += bench_extra.SECTIONS
    except ImportError:
        pass
    sections.append(("echo (simulated room)", echo))
    sections.append(("echo (real devices)", echo_devices))
    rows: list[Row] = []
    for name, fn in sections:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows += optional(name, fn)
    from rich.console import Console
    from rich.table import Table

    previous = _previous()
    table = Table(title="rt benchmarks (this machine)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("goal")
    if previous:
        table.add_column("previous run", justify="right", style="dim")
    for row in rows:
        table.add_row(*row, *([previous.get(row[0], "")] if previous else []))
    Console(width=160).print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**_machine(), "rows": [
        {"figure": f, "measured": m, "goal": g} for f, m, g in rows]}, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
