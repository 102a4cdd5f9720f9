"""A frame-for-frame WebSocket proxy in front of a real `rt serve`, for faults that `rt serve`
has no flag for. Subclasses decide what happens to each frame going down to rt (`down`) and
may act on frames going up (`up`); everything else is plain forwarding on loopback."""

from __future__ import annotations

import json
from typing import Any

from e2e.support import ThreadedWsServer, until_one_ends
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection


def event_type(frame: str | bytes) -> str | None:
    """The `type` of a JSON event frame, or None (binary, junk)."""
    if isinstance(frame, bytes) or '"type"' not in frame[:200]:
        return None
    try:
        value = json.loads(frame).get("type")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class Proxy(ThreadedWsServer):
    """ws://127.0.0.1:PORT/v1/realtime -> `upstream`; `self.opened` counts connections."""

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.split("/v1/")[0]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    async def down(self, conn: int, frame: str | bytes, ws: ServerConnection,
                   up: ClientConnection) -> None:
        await ws.send(frame)

    async def up(self, conn: int, frame: str | bytes, ws: ServerConnection,
                 up: ClientConnection) -> None:
        await up.send(frame)

    async def _handler(self, ws: ServerConnection) -> None:
        self.opened += 1
        conn = self.opened
        assert ws.request is not None
        async with connect(self.upstream + ws.request.path, max_size=None, compression=None,
                           ping_interval=None) as up:

            async def downward() -> None:
                async for frame in up:
                    await self.down(conn, frame, ws, up)

            async def upward() -> None:
                async for frame in ws:
                    await self.up(conn, frame, ws, up)

            await until_one_ends(downward, upward)

    def serve_options(self) -> dict[str, Any]:
        return {"max_size": None, "compression": None, "ping_interval": None}
