"""The WebSocket server of `rt serve`: handshake rules, one `Connection` per client, faults.

Handshake (docs/protocol.md#connection-and-close-codes): only `/v1/realtime` is served (any
other path: HTTP 404); the query may carry `model=...`; any key or none is accepted and never
logged, except a key of `ServerOptions.refused_keys` (from `Authorization: Bearer KEY` or Azure's
`api-key`), refused with HTTP 401 and the service's `invalid_api_key` error as the body. A client
sending `OpenAI-Beta: realtime=v1` gets `beta_api_shape_disabled` and a 4000 close, like the
service.

In-process use (tests):

    async with run_server(ServerOptions(port=0, pace=0)) as srv:
        ...connect to srv.url...
        srv.received  # [(conn_index, client_event_dict), ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime_cli.errors import TransportError
from realtime_cli.server.connection import Connection
from realtime_cli.server.faults import (
    BETA_CLOSE_CODE,
    BETA_CLOSE_REASON,
    GarbageInjector,
    beta_error,
    expiry_error,
    expiry_message,
)
from realtime_cli.server.options import DEFAULT_SESSION_SECONDS, ServerOptions
from realtime_cli.server.outbox import Outbox
from realtime_cli.server.record import Recorder
from realtime_cli.server.speech import SpeechEngine
from realtime_cli.server.wire import JsonDict, seed

REALTIME_PATH = "/v1/realtime"


@dataclass(slots=True)
class RunningServer:
    """A started server: where it listens and what it has received so far."""

    host: str
    port: int
    received: list[tuple[int, JsonDict]]
    connections: int = 0
    sent: dict[int, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{REALTIME_PATH}"

    def events(self, type_: str | None = None, conn: int | None = None) -> list[JsonDict]:
        """Received client events, optionally of one type and/or one connection."""
        return [
            event
            for index, event in self.received
            if (type_ is None or event.get("type") == type_) and (conn is None or index == conn)
        ]


def _is_beta(headers: Headers) -> bool:
    return any("realtime=v1" in value.replace(" ", "") for value in headers.get_all("OpenAI-Beta"))


def _api_key(headers: Headers) -> str:
    """The key of `Authorization: Bearer KEY` (OpenAI) or `api-key: KEY` (Azure), or ""."""
    scheme, _, key = headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else headers.get("api-key", "").strip()


# The body of the service's 401 for a bad key (the OpenAI API's error shape); the service also
# quotes the key, masked, which the twin leaves out.
BAD_KEY_BODY = {"error": {
    "message": "Incorrect API key provided. You can find your API key at "
               "https://platform.openai.com/account/api-keys.",
    "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


class _Server:
    """Shared state of one listening server; `handler` runs once per connection."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        seed(options.seed)
        self.recorder = Recorder(options.record)
        self.log: Callable[[str], None] = options.log or (lambda line: None)
        self.speech = SpeechEngine(options.voice_engine, warn=options.log)
        self.running: RunningServer | None = None
        self._count = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != REALTIME_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"Not found; use {REALTIME_PATH}\n")
        if self.options.refused_keys and _api_key(request.headers) in self.options.refused_keys:
            self.log("refused an API key on the upgrade (HTTP 401)")
            response = connection.respond(HTTPStatus.UNAUTHORIZED, _dumps(BAD_KEY_BODY) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    async def handler(self, ws: ServerConnection) -> None:
        self._count += 1
        index = self._count
        if self.running is not None:
            self.running.connections = index
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        model = query.get("model", [self.options.model])[0]
        peer = ws.remote_address[:2] if ws.remote_address else "?"
        if ws.request is not None and _is_beta(ws.request.headers):
            self.log(f"conn {index}: open from {peer}, beta header refused (close 4000)")
            await ws.send(_dumps(beta_error()))
            await ws.close(BETA_CLOSE_CODE, BETA_CLOSE_REASON)
            return
        self.log(f"conn {index}: open from {peer}, model={model}")
        await self._serve_connection(ws, index, model)

    async def _serve_connection(self, ws: ServerConnection, index: int, model: str) -> None:
        options = self.options
        if options.fault_connections is not None and index > options.fault_connections:
            # past the first N connections: a normal session (how a reconnect is tested)
            options = replace(options, expire_after=DEFAULT_SESSION_SECONDS, drop_after=None,
                              drop_on=None)
        conn: Connection | None = None

        def drop(event_type: str) -> None:
            self.log(f"conn {index}: dropping the socket without a close frame after "
                     f"{event_type} (--drop-on)")
            if conn is not None:
                conn.stop()
            ws.transport.abort()

        outbox = Outbox(
            ws.send,
            ws.close,
            latency_s=options.latency_ms / 1000.0,
            garbage=GarbageInjector() if options.garbage else None,
            drop_on=options.drop_on,
            on_drop=drop,
        )
        conn = Connection(
            index, options=options, outbox=outbox, speech=self.speech, model=model,
            record=lambda event: self.recorder.record(index, event), log=self.log,
        )
        loop = asyncio.get_running_loop()
        timers = [loop.call_later(options.expire_after, self._expire, conn, options.expire_after)]
        if options.drop_after is not None:
            timers.append(loop.call_later(options.drop_after, self._drop, ws, conn))
        conn.start()
        await self._pump(ws, index, conn.handle, conn.stop, outbox, timers,
                         lambda: f"{conn.turn} turn(s)")

    async def _pump(self, ws: ServerConnection, index: int, handle: Callable[[str | bytes], None],
                    stop: Callable[[], None], outbox: Outbox,
                    timers: list[asyncio.TimerHandle],
                    summary: Callable[[], str]) -> None:
        """Hand each frame to the connection until the socket closes, then undo its timers,
        stop it, let its sender finish and log how it ended (both protocols' twins)."""
        sender = asyncio.get_running_loop().create_task(
            outbox.run(), name=f"rt-serve conn {index} sender")
        try:
            async for frame in ws:
                handle(frame)
        except ConnectionClosed:
            pass
        finally:
            for timer in timers:
                timer.cancel()
            stop()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            if self.running is not None:
                self.running.sent[index] = outbox.sent
            code = ws.close_code if ws.close_code is not None else "none (dropped)"
            self.log(f"conn {index}: closed, code {code}, {summary()}")

    def _expire(self, conn: Connection, seconds: float) -> None:
        conn.log(f"session expired after {seconds:g} s (close 1001)")
        conn.expire(expiry_error(seconds), expiry_message(seconds))

    def _drop(self, ws: ServerConnection, conn: Connection) -> None:
        conn.log(f"dropping the socket without a close frame (--drop-after {self.options.drop_after:g})")
        conn.stop()
        ws.transport.abort()


def _dumps(event: JsonDict) -> str:
    import json

    return json.dumps(event, separators=(",", ":"))


async def _listen(state: _Server) -> Server:
    options = state.options
    try:
        return await serve(
            state.handler,
            options.host,
            options.port,
            process_request=state.process_request,
            compression=None,
            max_size=None,
            ping_interval=None,
        )
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc)
        else:
            reason = os.strerror(exc.errno).lower()
        raise TransportError(f"cannot listen on {options.host}:{options.port}: {reason}") from None


@contextlib.asynccontextmanager
async def run_server(options: ServerOptions | None = None, *,
                     state: _Server | None = None) -> AsyncIterator[RunningServer]:
    """Start a server for the duration of the block; yields where it listens. `state` serves
    the connections its own way (a replay); by default they talk to the offline model."""
    options = options or ServerOptions(port=0)
    state = state or _Server(options)
    server = await _listen(state)
    try:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        state.running = RunningServer(host=host, port=port, received=state.recorder.received)
        yield state.running
    finally:
        server.close()
        await server.wait_closed()
        state.recorder.close()


async def serve_until_stopped(
    options: ServerOptions, announce: Callable[[str], None], stop: asyncio.Event, *,
    state: _Server | None = None,
) -> None:
    """What the CLI runs: start, announce the listening line, serve until `stop` is set."""
    async with run_server(options, state=state) as srv:
        announce(f"rt serve listening on {srv.url}")
        await stop.wait()
