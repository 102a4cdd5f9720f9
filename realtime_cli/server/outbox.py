"""The one writer of a connection: events are queued in order and sent by one task.

`emit(event)` is synchronous, so a handler can put a whole sequence of events (a cancelled
response's `.done` events, say) in the queue without another task slipping in between. The
sender task applies `--latency` (each frame leaves `latency` after it was queued, order kept)
and `--garbage` (junk frames between real ones), and performs a queued close last.
With `drop_on` (`--drop-on TYPE`) the socket is dropped without a close frame right after the
first event of that type has been sent; nothing is sent after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from realtime_cli.server.faults import GarbageInjector
from realtime_cli.server.wire import JsonDict, new_id


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Drop:
    event_type: str


Frame = str | bytes | _Close | _Drop


class Outbox:
    def __init__(
        self,
        send: Callable[[str | bytes], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        latency_s: float = 0.0,
        garbage: GarbageInjector | None = None,
        on_event: Callable[[JsonDict], None] | None = None,
        drop_on: str | None = None,
        on_drop: Callable[[str], None] = lambda event_type: None,
    ) -> None:
        self._send = send
        self._close = close
        self._latency = latency_s
        self._garbage = garbage
        self._on_event = on_event
        self._drop_on = drop_on
        self._on_drop = on_drop
        self._queue: asyncio.Queue[tuple[float, Frame]] = asyncio.Queue()
        self._closing = False
        self.sent = 0

    def emit(self, event: JsonDict) -> JsonDict:
        """Queue one server event (an `event_id` is added first); returns it."""
        if self._closing:
            return event
        event = {"type": event["type"], "event_id": new_id("event"), **event}
        if self._on_event is not None:
            self._on_event(event)
        self._put(json.dumps(event, separators=(",", ":")))
        if event["type"] == self._drop_on:
            self._put(_Drop(event["type"]))
            self._closing = True
        elif self._garbage is not None and (junk := self._garbage.after_event()) is not None:
            self._put(junk)
        return event

    def close(self, code: int, reason: str) -> None:
        """Close the socket after everything queued so far; later emits are dropped."""
        if not self._closing:
            self._put(_Close(code, reason))
            self._closing = True

    def _put(self, frame: Frame) -> None:
        due = asyncio.get_running_loop().time() + self._latency
        self._queue.put_nowait((due, frame))

    async def run(self) -> None:
        """Send until a queued close is done; the caller cancels it when the socket dies."""
        loop = asyncio.get_running_loop()
        while True:
            due, frame = await self._queue.get()
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if isinstance(frame, _Close):
                await self._close(frame.code, frame.reason)
                return
            if isinstance(frame, _Drop):
                self._on_drop(frame.event_type)
                return
            await self._send(frame)
            self.sent += 1
