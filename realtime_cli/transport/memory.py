"""A transport made of two queues in the same event loop, with the server end in the caller's
hands: tests and benches drive a whole `Runner` through it, frame by frame, without a socket.

    transport = MemoryTransport()
    runner = Runner(core, endpoint, source, sink, transport=transport)
    server = await transport.accept()          # the next connection the runner opens
    await server.send_event({"type": "session.created", ...})
    event = await server.receive_event()       # what the runner sent, as a dict
    await server.close(4000, "bye")            # the runner sees TransportClosed(4000, "bye")

It keeps the contract of `transport/base.py`: `receive` and `send` raise `TransportClosed`
once either side closed, and `connect` raises what `refuse` queued.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from realtime_cli.errors import TransportClosed, TransportError


@dataclass(frozen=True, slots=True)
class _Close:
    code: int | None
    reason: str


class MemoryEnd:
    """One side of an in-memory connection; the other side reads what this one sends."""

    def __init__(self, inbox: asyncio.Queue[str | bytes | _Close],
                 outbox: asyncio.Queue[str | bytes | _Close]) -> None:
        self._inbox = inbox
        self._outbox = outbox
        self._closed: _Close | None = None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def send(self, frame: str | bytes) -> None:
        if self._closed is not None:
            raise TransportClosed(self._closed.code, self._closed.reason)
        self._outbox.put_nowait(frame)

    async def receive(self) -> str | bytes:
        if self._closed is not None:
            raise TransportClosed(self._closed.code, self._closed.reason)
        item = await self._inbox.get()
        if isinstance(item, _Close):
            self._closed = item
            raise TransportClosed(item.code, item.reason)
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._end(_Close(code, reason))

    def drop(self) -> None:
        """End the connection without a close frame, as a lost network does (code None)."""
        self._end(_Close(None, ""))

    def _end(self, close: _Close) -> None:
        if self._closed is None:
            self._closed = close
            self._outbox.put_nowait(close)


class MemoryServer(MemoryEnd):
    """The server end, with JSON helpers for scripts that speak in event dicts."""

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.send(json.dumps(event))

    async def receive_event(self) -> dict[str, Any]:
        frame = await self.receive()
        event: dict[str, Any] = json.loads(frame)
        return event

    async def receive_until(self, event_type: str) -> dict[str, Any]:
        """The next event of `event_type`, skipping the others (appends, for instance)."""
        while True:
            event = await self.receive_event()
            if event.get("type") == event_type:
                return event


class MemoryTransport:
    def __init__(self) -> None:
        self._accepted: asyncio.Queue[MemoryServer] = asyncio.Queue()
        self._refusals: deque[TransportError] = deque()
        self.connects = 0  # attempts, refused ones included

    def refuse(self, error: TransportError) -> None:
        """Make the next `connect` raise `error` (a `FatalServerError` is never retried)."""
        self._refusals.append(error)

    async def connect(self, timeout_s: float) -> MemoryEnd:
        self.connects += 1
        if self._refusals:
            raise self._refusals.popleft()
        to_server: asyncio.Queue[str | bytes | _Close] = asyncio.Queue()
        to_client: asyncio.Queue[str | bytes | _Close] = asyncio.Queue()
        self._accepted.put_nowait(MemoryServer(inbox=to_server, outbox=to_client))
        return MemoryEnd(inbox=to_client, outbox=to_server)

    async def accept(self) -> MemoryServer:
        """The server end of the next connection a client opens."""
        return await self._accepted.get()
