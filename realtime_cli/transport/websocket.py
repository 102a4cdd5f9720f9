"""The WebSocket transport: the only client-side module that imports `websockets`.

Every failure of the library is translated here into rt's errors (see `transport/base.py`)
and nowhere else, each as one clean line. No message ever includes a header value, so the key
cannot leak through an error.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from realtime_cli.errors import FatalServerError, KeyRejected, TransportClosed, TransportError
from realtime_cli.transport.endpoint import Endpoint

PING_INTERVAL_S = 20.0
CLOSE_TIMEOUT_S = 2.0


class WebSocketTransport:
    """Connections to one endpoint; each `connect` opens a new one (reconnects, rollovers)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def connect(self, timeout_s: float) -> WebSocketConnection:
        return WebSocketConnection(await _open(self.endpoint, timeout_s))


class WebSocketConnection:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, frame: str) -> None:
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def receive(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await asyncio.wait_for(self._ws.close(code, reason), timeout=CLOSE_TIMEOUT_S)
        except (TimeoutError, ConnectionClosed, OSError):
            pass


def _closed(exc: ConnectionClosed) -> TransportClosed:
    if exc.rcvd is None:
        return TransportClosed(None, "")
    return TransportClosed(exc.rcvd.code, exc.rcvd.reason)


async def _open(endpoint: Endpoint, timeout_s: float) -> ClientConnection:
    """Connect or raise TransportError (retryable) / FatalServerError (do not retry)."""
    host = endpoint.host
    try:
        return await connect(
            endpoint.connect_url().reveal(),  # never named in a message below
            additional_headers=endpoint.headers,
            max_size=None,
            compression=None,
            open_timeout=timeout_s,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_INTERVAL_S,
            close_timeout=CLOSE_TIMEOUT_S,
            user_agent_header="rt (realtime-cli)",
        )
    except InvalidStatus as exc:
        raise _status_error(exc.response.status_code, endpoint) from None
    except InvalidURI:
        raise FatalServerError(f"invalid URL: {endpoint.display_url}") from None
    except ssl.SSLCertVerificationError as exc:
        raise FatalServerError(f"TLS certificate of {host} not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise TransportError(f"TLS handshake with {host} failed: {exc.reason or exc}") from None
    except socket.gaierror:
        raise TransportError(f"cannot resolve host {host!r} (DNS lookup failed)") from None
    except ConnectionRefusedError:
        raise TransportError(
            f"connection refused by {endpoint.display_url} (is the server running?)"
        ) from None
    except TimeoutError:
        raise TransportError(f"timed out after {timeout_s:g} s connecting to {host}") from None
    except InvalidHandshake as exc:
        raise TransportError(f"WebSocket handshake with {host} failed: {type(exc).__name__}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if not reason:  # a bare ConnectionResetError, e.g. TLS spoken to a plain ws:// port
            tls = " during the TLS handshake" if endpoint.url.startswith("wss:") else ""
            reason = f"the server closed the connection{tls}"
        raise TransportError(f"cannot connect to {host}: {reason}") from None


def _status_error(status: int, endpoint: Endpoint) -> TransportError:
    where = endpoint.display_url
    if status == 401:
        return KeyRejected(f"HTTP 401 from {endpoint.host}: the {endpoint.key_name} was rejected")
    if status in (403, 404):
        subject = "Azure deployment" if endpoint.kind == "azure" else "model or endpoint"
        return FatalServerError(
            f"HTTP {status} from {endpoint.host}: {subject} not found or not allowed ({where})"
        )
    if status == 429:
        return TransportError(f"HTTP 429 from {endpoint.host}: rate limited or out of quota")
    if 500 <= status < 600:
        return TransportError(f"HTTP {status} from {endpoint.host}: server error")
    return FatalServerError(f"HTTP {status} from {endpoint.host} during the WebSocket handshake")
