"""`rt serve --replay FILE`: play a recorded wire trace's server events back to a real client.

The trace is what `rt talk --trace` writes (`transport/trace.py` describes the lines); a
published event log written in the same form works too. Connection N of the client gets the
server events of the trace's connection N, in order:

1. the trace's `session.created` at once, as the trace has it;
2. then nothing until the client sends its `session.update` (every client event is recorded,
   `--record` included, as `rt serve` always does);
3. then the rest, each at the offset from the client's `session.update` that the trace shows
   (a line without `t` follows the one before it at once);
4. then, if the trace shows the server closing, the same close (or a drop, when it had no close
   frame); otherwise the connection stays open until the client ends it.

A trace that replaced audio payloads by their length (`"audio"` lists where) is filled with
silence of that length. The replay answers nothing the client says: it is the recording,
not a model, so a client that strays from the recorded conversation meets the recorded events
anyway, as a test of how it copes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from realtime_cli.clock import Clock, SystemClock
from realtime_cli.errors import ConfigError
from realtime_cli.server.app import _Server
from realtime_cli.server.options import ServerOptions


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """One server frame to send, audio filled in; `t` is its time in the trace (None: unknown)."""

    t: float | None
    frame: str | bytes
    type: str | None


@dataclass(frozen=True, slots=True)
class ReplayConnection:
    """What the trace's server said on one connection, split where the replay waits."""

    created: ReplayFrame | None
    rest: tuple[ReplayFrame, ...]
    origin: float | None  # the trace time the rest is paced from
    close: tuple[int | None, str] | None  # the server's close, when the trace shows one


def _silence(size: Any) -> str:
    if not isinstance(size, int) or size < 0:
        raise ValueError("an audio length must be a non-negative integer")
    return base64.b64encode(bytes(size)).decode("ascii")


def _fill_audio(frame: Any, paths: Any) -> None:
    """Put silence where the trace left an audio payload's length (in place)."""
    if not isinstance(paths, list) or not isinstance(frame, dict):
        raise ValueError("'audio' must list key paths into a JSON object frame")
    for path in paths:
        if not isinstance(path, list) or not path:
            raise ValueError("each 'audio' path must be a non-empty list")
        node = frame
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = _silence(node[path[-1]])


def _server_frame(line: dict[str, Any]) -> ReplayFrame:
    t = line.get("t")
    if t is not None and not isinstance(t, int | float):
        raise ValueError("'t' must be a number of seconds")
    if "bytes" in line:
        return ReplayFrame(t, bytes(int(line["bytes"])), None)
    frame = line.get("frame")
    if "audio" in line:
        _fill_audio(frame, line["audio"])
    if isinstance(frame, str):
        return ReplayFrame(t, frame, None)
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    kind = frame.get("type") if isinstance(frame, dict) else None
    return ReplayFrame(t, text.encode("utf-8") if line.get("binary") else text,
                       kind if isinstance(kind, str) else None)


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read --replay {path}: {exc.strerror}") from None
    lines = []
    for number, text in enumerate(raw, 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            raise ConfigError(f"--replay {path}:{number}: not a JSON line") from None
        if not isinstance(line, dict) or line.get("dir") not in ("open", "in", "out", "close"):
            raise ConfigError(f"--replay {path}:{number}: not a trace line (no 'dir')")
        lines.append({**line, "_number": number})
    return lines


def read_trace(path: Path) -> list[ReplayConnection]:
    """The trace's connections in order (a trace without `conn` is one connection)."""
    by_conn: dict[int, list[dict[str, Any]]] = {}
    for line in _lines(path):
        by_conn.setdefault(int(line.get("conn", 1)), []).append(line)
    if not by_conn:
        raise ConfigError(f"--replay {path}: the trace is empty")
    return [_connection(path, by_conn[conn]) for conn in sorted(by_conn)]


def _connection(path: Path, lines: list[dict[str, Any]]) -> ReplayConnection:
    created: ReplayFrame | None = None
    rest: list[ReplayFrame] = []
    update_t: float | None = None
    close: tuple[int | None, str] | None = None
    for line in lines:
        direction = line["dir"]
        if direction == "out":
            frame = line.get("frame")
            if update_t is None and isinstance(frame, dict) and frame.get("type") == "session.update":
                update_t = line.get("t")
        elif direction == "close" and line.get("by") == "server":
            close = (line.get("code"), str(line.get("reason") or ""))
        elif direction == "in":
            try:
                frame_ = _server_frame(line)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise ConfigError(f"--replay {path}:{line['_number']}: {exc}") from None
            if created is None and not rest and frame_.type == "session.created":
                created = frame_
            else:
                rest.append(frame_)
    origin = update_t if update_t is not None else next((f.t for f in rest if f.t is not None), None)
    return ReplayConnection(created, tuple(rest), origin, close)


async def play(frames: Sequence[ReplayFrame], send: Callable[[str | bytes], Awaitable[None]],
               clock: Clock, origin: float | None) -> None:
    """Send `frames` in order, each when as much time has passed since the call as passed in
    the trace between `origin` and its own time."""
    start = clock.monotonic()
    for frame in frames:
        if frame.t is not None and origin is not None:
            await clock.sleep(start + (frame.t - origin) - clock.monotonic())
        await send(frame.frame)


class ReplayServer(_Server):
    """`rt serve` whose connections play a trace instead of running a model."""

    def __init__(self, options: ServerOptions, trace: Sequence[ReplayConnection], source: Path,
                 clock: Clock | None = None) -> None:
        super().__init__(options)
        self.trace = trace
        self.source = source
        self.clock = clock or SystemClock()

    async def _serve_connection(self, ws: ServerConnection, index: int, model: str) -> None:
        if index > len(self.trace):
            self.log(f"conn {index}: the trace has {len(self.trace)} connection(s); closing (1000)")
            await ws.close(1000, "the replayed trace has no more connections")
            return
        script = self.trace[index - 1]
        self.log(f"conn {index}: replaying {len(script.rest) + (script.created is not None)} "
                 f"server events of {self.source.name}")
        updated = asyncio.Event()
        reader = asyncio.create_task(self._read_client(ws, index, updated))
        try:
            if script.created is not None:
                await ws.send(script.created.frame)
                waiting = asyncio.create_task(updated.wait())
                await asyncio.wait({reader, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
            if not reader.done():
                await play(script.rest, ws.send, self.clock, script.origin)
                self.log(f"conn {index}: the trace is played out")
                await self._close_as_recorded(ws, index, script.close)
            await reader
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            code = ws.close_code if ws.close_code is not None else "none (dropped)"
            self.log(f"conn {index}: closed, code {code}")

    async def _read_client(self, ws: ServerConnection, index: int, updated: asyncio.Event) -> None:
        """Record every client event until the client is gone; note its first session.update."""
        try:
            async for frame in ws:
                try:
                    event = json.loads(frame)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                self.recorder.record(index, event)
                if event.get("type") == "session.update":
                    updated.set()
        except ConnectionClosed:
            pass

    async def _close_as_recorded(self, ws: ServerConnection, index: int,
                                 close: tuple[int | None, str] | None) -> None:
        if close is None:
            return
        code, reason = close
        if code is None:
            self.log(f"conn {index}: dropping the socket, as the trace's server did")
            ws.transport.abort()
        else:
            await ws.close(code, reason)
