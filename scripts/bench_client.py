"""The client's own figures: the session core's throughput, `rt --help`'s cold start, and the
latency rt adds between a device and the socket (over a loopback WebSocket), with each
provider's codec (OpenAI Realtime GA, Gemini Live)."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from typing import Any

from bench_rows import Also, Measured, Section, at_least, at_most, installed_python, pct, shared

CORE = Section("session core")
COLD_START = Section("cold start")
LATENCY = Section("client latency")


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


@CORE.figure("session core throughput (realistic mix)", "events/s", at_least(100_000),
             stat="best of 3")
def core_throughput() -> float:
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
    return max(rates)


# ---------------------------------------------------------------- cold start


def wall_ms(argv: list[str], runs: int = 7) -> list[float]:
    """Wall time of each of `runs` runs of a whole process, in ms."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return times


@shared
def python_start_ms() -> float:
    """Best of 7 `python -c pass`: the interpreter's own start-up on this machine, the floor
    under every cold-start figure."""
    return min(wall_ms([str(installed_python()), "-c", "pass"]))


@COLD_START.figure("`rt --help` cold start (as installed)", "ms", at_most(150), stat="best of 7")
def help_cold_start() -> Measured:
    times = wall_ms([str(installed_python().parent / "rt"), "--help"])
    return Measured(min(times), (Also("median", statistics.median(times), "ms"),
                                 Also("python -c pass", python_start_ms(), "ms")))


# ---------------------------------------------------------------- client-added latency
#
# The same measurement for each provider's codec: a loopback server stamps when each
# microphone frame arrives on the socket and when each audio chunk leaves it; the client
# stamps when the frame entered the runner and when the chunk was queued for playback. Each
# frame carries its index in its first sample (frames before the session is ready are not
# sent). The servers speak just enough of each protocol to get a session going.


def _openai_server(frames: int, deltas: int, seen: list[tuple[int, float]],
                   sent: list[float], done: asyncio.Event) -> Any:
    """The GA Realtime protocol: session.created, then output audio deltas once `frames`
    appends have arrived."""
    import base64

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
                seen.append((index, time.perf_counter()))
                if len(seen) == frames:
                    tasks.add(asyncio.create_task(send_deltas(ws)))

    tasks: set[asyncio.Task[None]] = set()

    async def send_deltas(ws: Any) -> None:
        pcm = base64.b64encode(b"\x00\x01" * 480).decode()
        for _ in range(deltas):
            sent.append(time.perf_counter())
            await ws.send(json.dumps({
                "type": "response.output_audio.delta", "event_id": "d", "response_id": "r1",
                "item_id": "i1", "output_index": 0, "content_index": 0, "delta": pcm}))
            await asyncio.sleep(0.002)
        done.set()

    return handler


def _gemini_server(frames: int, deltas: int, seen: list[tuple[int, float]],
                   sent: list[float], done: asyncio.Event) -> Any:
    """Gemini Live: setupComplete to the setup, then `modelTurn` audio parts (JSON in binary
    frames, as the service sends them) once `frames` realtimeInput.audio messages have arrived."""
    import base64

    async def handler(ws: Any) -> None:
        async for msg in ws:
            message = json.loads(msg)
            if "setup" in message:
                await ws.send(json.dumps({"setupComplete": {}}).encode())
            elif "audio" in message.get("realtimeInput", {}):
                data = message["realtimeInput"]["audio"]["data"]
                index = int.from_bytes(base64.b64decode(data)[:2], "little")
                seen.append((index, time.perf_counter()))
                if len(seen) == frames:
                    tasks.add(asyncio.create_task(send_parts(ws)))

    tasks: set[asyncio.Task[None]] = set()

    async def send_parts(ws: Any) -> None:
        part = {"inlineData": {"mimeType": "audio/pcm;rate=24000",
                               "data": base64.b64encode(b"\x00\x01" * 480).decode()}}
        frame = json.dumps({"serverContent": {"modelTurn": {"parts": [part]}}}).encode()
        for _ in range(deltas):
            sent.append(time.perf_counter())
            await ws.send(frame)
            await asyncio.sleep(0.002)
        done.set()

    return handler


async def _latency_run(provider: str, frames: int = 300, deltas: int = 300
                       ) -> tuple[list[float], list[float]]:
    """Mic frame in -> on the socket, and audio received -> queued for playback, in ms, for the
    runner with `provider`'s codec."""
    from websockets.asyncio.server import serve

    from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.runtime.launch import wire_codec
    from realtime_cli.runtime.runner import Runner
    from realtime_cli.transport.endpoint import Endpoint
    from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint

    mic_in: list[float] = []
    append_seen: list[tuple[int, float]] = []
    delta_sent: list[float] = []
    delta_queued: list[float] = []
    done = asyncio.Event()
    make_server = _gemini_server if provider == "gemini" else _openai_server
    handler = make_server(frames, deltas, append_seen, delta_sent, done)

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

        def stop(self) -> None: ...

        def status(self) -> SinkStatus:
            return SinkStatus(item_id=None, played_samples=0, buffered_ms=0, level_dbfs=-120,
                              underruns=0, idle=True)

        async def close(self) -> None: ...

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        if provider == "gemini":
            config = SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck",
                                   idle_timeout_s=None)
            endpoint = resolve_gemini_endpoint(url=f"ws://127.0.0.1:{port}", env={})
        else:
            config = SessionConfig(idle_timeout_s=None)
            endpoint = Endpoint(url=f"ws://127.0.0.1:{port}/v1/realtime", kind="custom")
        core = SessionCore(config, session_id="c" * 32, now=0.0)
        runner = Runner(core, endpoint, Source(), Sink(), codec=wire_codec(config))
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.1)
        runner.stop(0, "bench done")
        await asyncio.wait_for(task, 10)
    up = [(seen - mic_in[index]) * 1000 for index, seen in append_seen]
    down = [(b - a) * 1000 for a, b in zip(delta_sent, delta_queued, strict=False)]
    if len(down) < deltas:
        raise RuntimeError(f"only {len(down)} of {deltas} audio chunks reached the speaker")
    return up, down


@shared
def _latency(provider: str) -> tuple[list[float], list[float]]:
    return asyncio.run(_latency_run(provider))


@LATENCY.figure("mic frame in -> append on the socket (loopback)", "ms", at_most(5), stat="p99")
def mic_to_socket() -> Measured:
    up, _ = _latency("openai")
    return Measured(pct(up, 99), (Also("p50", pct(up, 50), "ms"),))


@LATENCY.figure("audio delta received -> queued for playback", "ms", at_most(5), stat="p99")
def delta_to_playback() -> Measured:
    _, down = _latency("openai")
    return Measured(pct(down, 99), (Also("p50", pct(down, 50), "ms"),))


@LATENCY.figure("Gemini codec: mic frame in -> realtimeInput on the socket (loopback)", "ms",
                at_most(5), stat="p99")
def gemini_mic_to_socket() -> Measured:
    up, _ = _latency("gemini")
    return Measured(pct(up, 99), (Also("p50", pct(up, 50), "ms"),))


@LATENCY.figure("Gemini codec: audio part received -> queued for playback", "ms", at_most(5),
                stat="p99")
def gemini_part_to_playback() -> Measured:
    _, down = _latency("gemini")
    return Measured(pct(down, 99), (Also("p50", pct(down, 50), "ms"),))
