"""What the runner needs from a transport: open a connection, move frames, close it.

The runner is written against these two protocols only, so it can be driven by WebSockets
(`transport/websocket.py`) or by queues in the same event loop (`transport/memory.py`) without
knowing which. Every failure is one of rt's own errors:

* `connect` raises `FatalServerError` when trying again cannot help (a rejected key, a bad URL)
  and `TransportError` when it might (refused, timed out, a 5xx on the upgrade);
* `receive` and `send` raise `TransportClosed` once the connection is gone, with the close code
  and reason the peer sent (code None: no close frame), which the core needs to decide whether
  to reconnect;
* `close` never raises: it is called on the way out, when the first error is the one to keep.
"""

from __future__ import annotations

from typing import Protocol


class Connection(Protocol):
    async def send(self, frame: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Transport(Protocol):
    async def connect(self, timeout_s: float) -> Connection: ...
