"""The WebSocket server of `rt serve --protocol gemini`: handshake, API key, one
`GeminiConnection` per client, goAway/expiry and drop timers.

Only the Live API path is served (any other: HTTP 404). The key comes as the `key` query
parameter (as raw WebSocket clients send it), the `x-goog-api-key` header (as the google-genai
SDK sends it), or both; which of them carried one is logged, never the key itself. The upgrade
always succeeds: a missing key closes the connection with 1008 and a refused one
(`GeminiOptions.refused_keys`, in either place) with 1007 when the first message arrives.
`srv.credentials` keeps, in memory only, the keys each connection presented, by place.

In-process use (tests):

    async with run_gemini_server(ServerOptions(port=0, pace=0)) as srv:
        ...connect to srv.url + "?key=anything"...
        srv.received  # [(conn_index, client_message_dict), ...]
        srv.credentials  # [{"query": key, "header": key}, ...], one per connection
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from realtime_cli.server.app import RunningServer, _Server, run_server
from realtime_cli.server.faults import GarbageInjector
from realtime_cli.server.gemini import messages
from realtime_cli.server.gemini.connection import GeminiConnection
from realtime_cli.server.gemini.messages import Refusal
from realtime_cli.server.gemini.options import GeminiOptions
from realtime_cli.server.gemini.outbox import GeminiOutbox
from realtime_cli.server.gemini.session import SessionStore
from realtime_cli.server.options import DEFAULT_SESSION_SECONDS, ServerOptions
from realtime_cli.server.wire import JsonDict

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
KEY_HEADER = "x-goog-api-key"


@dataclass(slots=True)
class RunningGeminiServer(RunningServer):
    """A started Gemini twin: where it listens and what it has received so far."""

    credentials: list[dict[str, str]] = field(default_factory=list)  # memory only

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{GEMINI_PATH}"

    def messages(self, kind: str | None = None, conn: int | None = None) -> list[JsonDict]:
        """Received client messages, optionally of one kind (`setup`, `realtimeInput`, ...)."""
        return [message for index, message in self.received
                if (kind is None or kind in message) and (conn is None or index == conn)]


def presented_keys(ws: ServerConnection) -> dict[str, str]:
    """The API keys the client presented, by place: `query` (`?key=`), `header`."""
    request = ws.request
    if request is None:
        return {}
    keys = {"query": parse_qs(urlsplit(request.path).query).get("key", [""])[0],
            "header": request.headers.get(KEY_HEADER, "")}
    return {place: key for place, key in keys.items() if key}


def _key_refusal(keys: dict[str, str], refused: frozenset[str]) -> Refusal | None:
    if not keys:
        return Refusal(messages.POLICY, messages.NO_KEY_REASON)
    if any(key in refused for key in keys.values()):
        return Refusal(messages.INVALID_ARGUMENT, messages.BAD_KEY_REASON)
    return None


class GeminiServer(_Server):
    """The OpenAI twin's server state (recorder, voice, log, seed), serving Gemini Live."""

    def __init__(self, options: ServerOptions, gemini: GeminiOptions) -> None:
        super().__init__(options)
        self.gemini = gemini
        self.store = SessionStore(gemini.handle_ttl)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != GEMINI_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"Not found; use {GEMINI_PATH}\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        self._count += 1
        index = self._count
        if self.running is not None:
            self.running.connections = index
        options = self.options
        if options.fault_connections is not None and index > options.fault_connections:
            options = replace(options, expire_after=DEFAULT_SESSION_SECONDS, drop_after=None,
                              drop_on=None)
        peer = ws.remote_address[:2] if ws.remote_address else "?"
        keys = presented_keys(ws)
        where = "key in the " + " and the ".join(keys) if keys else "no key"
        self.log(f"conn {index}: open from {peer}, {where}")
        if isinstance(self.running, RunningGeminiServer):
            self.running.credentials.append(keys)
        conn: GeminiConnection | None = None

        def drop(what: str) -> None:
            self.log(f"conn {index}: dropping the socket without a close frame ({what})")
            if conn is not None:
                conn.stop()
            ws.transport.abort()

        outbox = GeminiOutbox(ws.send, ws.close, latency_s=options.latency_ms / 1000.0,
                              garbage=GarbageInjector() if options.garbage else None,
                              drop_on=options.drop_on, on_drop=lambda name: drop(f"after {name}"))
        conn = GeminiConnection(
            index, options=options, outbox=outbox, speech=self.speech, store=self.store,
            key_refusal=_key_refusal(keys, self.gemini.refused_keys),
            resumable=self.gemini.resumable,
            record=lambda message: self.recorder.record(index, message), log=self.log)
        loop = asyncio.get_running_loop()
        notice = min(self.gemini.go_away_notice, options.expire_after / 2)
        timers = [
            loop.call_later(options.expire_after - notice, conn.go_away, notice),
            loop.call_later(options.expire_after, conn.close, messages.INTERNAL,
                            messages.DEADLINE_REASON),
        ]
        if options.drop_after is not None:
            timers.append(loop.call_later(options.drop_after, drop,
                                          f"--drop-after {options.drop_after:g}"))
        await self._pump(ws, index, conn.handle, conn.stop, outbox, timers,
                         lambda: f"{conn.turns} turn(s) in its session")


@contextlib.asynccontextmanager
async def run_gemini_server(options: ServerOptions | None = None,
                            gemini: GeminiOptions | None = None
                            ) -> AsyncIterator[RunningGeminiServer]:
    """Start a Gemini twin for the duration of the block; yields where it listens."""
    options = options or ServerOptions(port=0)
    state = GeminiServer(options, gemini or GeminiOptions())
    async with run_server(options, state=state) as base:
        running = RunningGeminiServer(host=base.host, port=base.port, received=base.received)
        state.running = running
        yield running


async def serve_gemini_until_stopped(options: ServerOptions, gemini: GeminiOptions,
                                     announce: Callable[[str], None], stop: asyncio.Event) -> None:
    """What the CLI runs with `--protocol gemini`."""
    async with run_gemini_server(options, gemini) as srv:
        announce(f"rt serve listening on {srv.url}")
        await stop.wait()
