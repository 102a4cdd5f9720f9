"""Wire traces: every frame of a conversation, both ways, as JSON lines, so a bug seen once can be
replayed (`rt serve --replay`) and become a test.

`TracingTransport` wraps any transport (`transport/base.py`). Each line of the file is one of

    {"t": 0.0,   "dir": "open",  "conn": 1, "url": "wss://api.openai.com/v1/realtime"}
    {"t": 0.21,  "dir": "in",    "conn": 1, "frame": {"type": "session.created", ...}}
    {"t": 0.22,  "dir": "out",   "conn": 1, "frame": {"type": "session.update", ...}}
    {"t": 1.5,   "dir": "in",    "conn": 1, "frame": {... "delta": 9600 ...},
                 "audio": [["delta"]]}
    {"t": 9.0,   "dir": "close", "conn": 1, "by": "client", "code": 1000, "reason": ""}

`t` is seconds since the trace started on the clock rt runs on; `conn` counts connections
(reconnects and rollovers open new ones). `frame` is the parsed JSON, or the text when it is not
JSON; a binary frame that holds JSON is parsed too and marked `"binary": true`, other binary
frames are written as `"bytes": N`. A close line says who closed (`client`, or `server` when a
send or receive met the end) with the close code (null: no close frame).

Audio payloads are large and say nothing about a bug, so unless `audio=True` each is replaced by
the number of bytes it held, and `audio` lists the key paths where that was done (the replay
fills them with silence of that length). The paths are those of the OpenAI GA events
(`input_audio_buffer.append.audio`, `response.output_audio.delta.delta`) and of Gemini Live
(`realtimeInput.audio.data`, `serverContent.modelTurn.parts[].inlineData.data`).

Nothing secret can reach the file: frames carry no key, the headers are not traced, and the
URL is written without its query or user part.

Writing goes to a buffered file, flushed when a connection closes, when the trace is closed and
at most a second apart, so the event loop never waits on the disk for more than a buffer's
write and a killed rt still leaves what led up to its last second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from realtime_cli.clock import Clock
from realtime_cli.errors import ConfigError, TransportClosed
from realtime_cli.transport.base import Connection, Transport

AudioPath = list[str | int]
"""Keys and list indexes from the frame's root to one audio payload."""

_BUFFER_BYTES = 1 << 16
FLUSH_EVERY_S = 1.0
"""A process killed without warning loses at most this much of the trace."""


def _openai_audio(key: str) -> Callable[[dict[str, Any]], list[AudioPath]]:
    return lambda frame: [[key]] if isinstance(frame.get(key), str) else []


def _gemini_input_audio(frame: dict[str, Any]) -> list[AudioPath]:
    audio = frame.get("realtimeInput")
    audio = audio.get("audio") if isinstance(audio, dict) else None
    if isinstance(audio, dict) and isinstance(audio.get("data"), str):
        return [["realtimeInput", "audio", "data"]]
    return []


def _gemini_output_audio(frame: dict[str, Any]) -> list[AudioPath]:
    content = frame.get("serverContent")
    turn = content.get("modelTurn") if isinstance(content, dict) else None
    parts = turn.get("parts") if isinstance(turn, dict) else None
    if not isinstance(parts, list):
        return []
    return [["serverContent", "modelTurn", "parts", i, "inlineData", "data"]
            for i, part in enumerate(parts)
            if isinstance(part, dict) and isinstance(part.get("inlineData"), dict)
            and isinstance(part["inlineData"].get("data"), str)]


_OPENAI_AUDIO = {
    "input_audio_buffer.append": _openai_audio("audio"),
    "response.output_audio.delta": _openai_audio("delta"),
}


def audio_paths(frame: dict[str, Any]) -> list[AudioPath]:
    """Where `frame` (either direction, OpenAI or Gemini) holds base64 audio."""
    kind = frame.get("type")
    if isinstance(kind, str):
        find = _OPENAI_AUDIO.get(kind)
        return find(frame) if find is not None else []
    return _gemini_input_audio(frame) + _gemini_output_audio(frame)


def base64_bytes(text: str) -> int:
    """How many bytes a base64 string decodes to, without decoding it."""
    padding = len(text) - len(text.rstrip("="))
    return len(text) * 3 // 4 - padding


def _replace(node: Any, path: AudioPath, value: Any) -> Any:
    """A copy of `node` with the value at `path` replaced; only the containers on the path are
    copied, so the frame the connection handed over stays as it was."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, list) and isinstance(head, int):
        copied_list = list(node)
        copied_list[head] = _replace(node[head], rest, value)
        return copied_list
    copied = dict(node)
    copied[head] = _replace(node[head], rest, value)
    return copied


def _value_at(node: Any, path: AudioPath) -> Any:
    for step in path:
        node = node[step]
    return node


def without_audio(frame: dict[str, Any]) -> tuple[dict[str, Any], list[AudioPath]]:
    """`frame` with each audio payload replaced by its length in bytes, and where that was."""
    paths = audio_paths(frame)
    for path in paths:
        frame = _replace(frame, path, base64_bytes(_value_at(frame, path)))
    return frame, paths


def safe_url(url: str) -> str:
    """`url` without its query, fragment or user part: none of them belongs in a trace."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


class TraceWriter:
    """The trace file: one JSON line per call, stamped on `clock` from when it was opened."""

    def __init__(self, path: Path, *, clock: Clock, audio: bool = False) -> None:
        try:
            self._file: IO[str] | None = path.open("w", encoding="utf-8", buffering=_BUFFER_BYTES)
        except OSError as exc:
            raise ConfigError(f"cannot write the trace {path}: {exc.strerror}") from None
        self.path = path
        self.audio = audio
        self._clock = clock
        self._start = self._flushed = clock.monotonic()
        self.connections = 0

    def line(self, direction: str, conn: int, **fields: Any) -> None:
        if self._file is None:
            return
        now = self._clock.monotonic()
        record = {"t": round(now - self._start, 4), "dir": direction, "conn": conn, **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        if now - self._flushed >= FLUSH_EVERY_S:
            self.flush()

    def frame(self, direction: str, conn: int, frame: str | bytes) -> None:
        """One frame, parsed when it is JSON, its audio replaced by lengths unless kept."""
        fields: dict[str, Any] = {}
        text: str | None
        if isinstance(frame, bytes):
            fields["binary"] = True
            try:
                text = frame.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is None:
                self.line(direction, conn, bytes=len(frame))
                return
        else:
            text = frame
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            self.line(direction, conn, frame=text, **fields)
            return
        if isinstance(parsed, dict) and not self.audio:
            parsed, paths = without_audio(parsed)
            if paths:
                fields["audio"] = paths
        self.line(direction, conn, frame=parsed, **fields)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._flushed = self._clock.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class TracingTransport:
    """A transport whose connections write every frame they move, and their ends, to a trace.

    `close()` once the run is over: the trace spans every connection of the run."""

    def __init__(self, inner: Transport, writer: TraceWriter, *, url: str | None = None) -> None:
        self._inner = inner
        self.writer = writer
        self._url = safe_url(url) if url is not None else None

    async def connect(self, timeout_s: float) -> TracingConnection:
        connection = await self._inner.connect(timeout_s)
        self.writer.connections += 1
        conn = self.writer.connections
        extra = {"url": self._url} if self._url is not None else {}
        self.writer.line("open", conn, **extra)
        return TracingConnection(connection, self.writer, conn)

    def close(self) -> None:
        self.writer.close()


class TracingConnection:
    def __init__(self, inner: Connection, writer: TraceWriter, conn: int) -> None:
        self._inner = inner
        self._writer = writer
        self._conn = conn
        self._ended = False

    async def send(self, frame: str) -> None:
        try:
            await self._inner.send(frame)
        except TransportClosed as exc:
            self._end("server", exc.code, exc.reason)
            raise
        self._writer.frame("out", self._conn, frame)

    async def receive(self) -> str | bytes:
        try:
            frame = await self._inner.receive()
        except TransportClosed as exc:
            self._end("server", exc.code, exc.reason)
            raise
        self._writer.frame("in", self._conn, frame)
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._end("client", code, reason)
        await self._inner.close(code, reason)

    def _end(self, by: str, code: int | None, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._writer.line("close", self._conn, by=by, code=code, reason=reason)
        self._writer.flush()
