"""Every way `rt talk` can fail to start talking gives one line on stderr, a non-zero exit and
no traceback, and never shows or stores the API key.

Network failures are real: a closed port, an unresolvable host, TLS spoken to a plain
WebSocket server, a TCP listener that never answers (with a tiny connection timeout), HTTP
403/404 on the upgrade and a 4000 close from a small `websockets` server. A refused key (HTTP 401
from OpenAI, a 1007 close from Gemini: exit 2) is in test_providers.py, against both twins.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from .conftest import Wavs
from .support import (
    SECRET,
    ThreadedWsServer,
    assert_one_clean_line,
    clean_env,
    data_bytes,
    run_rt,
)

pytestmark = pytest.mark.slow


class TinyServer(ThreadedWsServer):
    """`/http/NNN` refuses the upgrade with status NNN, `/close/NNNN` accepts and closes with
    that code. Counts connections."""

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _process(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = request.path.split("?")[0].strip("/").split("/")
        if parts[0] == "http":
            return conn.respond(HTTPStatus(int(parts[1])), "refused by the test server\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.opened += 1
        assert ws.request is not None
        parts = ws.request.path.split("?")[0].strip("/").split("/")
        if parts[0] == "close":
            await ws.close(int(parts[1]), "invalid_request_error.beta_api_shape_disabled")

    def serve_options(self) -> dict[str, Any]:
        return {"process_request": self._process}


@pytest.fixture(scope="module")
def tiny() -> Iterator[TinyServer]:
    with TinyServer() as srv:
        yield srv


@contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel does) and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextmanager
def answering_listener(payload: bytes) -> Iterator[int]:
    """A TCP port that answers every connection with `payload`, then hangs up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    done = threading.Event()

    def serve_forever() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(payload)
                except OSError:
                    pass

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def keyed_env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir, OPENAI_API_KEY=SECRET)


def talk(url: str, wavs: Wavs, tmp_path: Path, *extra: str) -> list[str]:
    return ["talk", "--url", url, "--input", str(wavs.question), "--output",
            str(tmp_path / "out.wav"), "--plain", *extra]


def check_no_secret(res_text: str, data_dir: Path) -> None:
    assert SECRET not in res_text
    for path, blob in data_bytes(data_dir):
        assert SECRET.encode() not in blob, path


def test_connection_refused(wavs: Wavs, keyed_env, data_dir: Path, tmp_path: Path) -> None:
    port = closed_port()
    res = run_rt(talk(f"ws://127.0.0.1:{port}/v1/realtime", wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert line.startswith("rt: connection refused by") and str(port) in line, res
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_dns_failure(wavs: Wavs, keyed_env, data_dir: Path, tmp_path: Path) -> None:
    res = run_rt(talk("wss://no-such-host.invalid/v1/realtime", wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert "cannot resolve host 'no-such-host.invalid'" in line, res
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_tls_to_a_plain_websocket_port(tiny: TinyServer, wavs: Wavs, keyed_env, data_dir: Path,
                                       tmp_path: Path) -> None:
    """The ws:// server hangs up on a TLS ClientHello (a bare connection reset)."""
    res = run_rt(talk(tiny.url("/v1/realtime", scheme="wss"), wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert line == ("rt: cannot connect to 127.0.0.1: the server closed the connection during "
                    "the TLS handshake"), res
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_tls_to_a_plain_tcp_port(wavs: Wavs, keyed_env, data_dir: Path,
                                 tmp_path: Path) -> None:
    """A plain TCP service answers the ClientHello with text: an SSL error."""
    with answering_listener(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        res = run_rt(talk(f"wss://127.0.0.1:{port}/v1/realtime", wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert line.startswith("rt: TLS handshake with 127.0.0.1 failed: "), res
    assert len(line) > len("rt: TLS handshake with 127.0.0.1 failed: ") + 3, res
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_connection_timeout(wavs: Wavs, keyed_env, data_dir: Path, tmp_path: Path) -> None:
    with silent_listener() as port:
        res = run_rt(talk(f"ws://127.0.0.1:{port}/v1/realtime", wavs, tmp_path),
                     {**keyed_env, "RT_CONNECTION_TIMEOUT_S": "0.5"}, timeout=20)
    line = assert_one_clean_line(res, code=3)
    assert line == "rt: timed out after 0.5 s connecting to 127.0.0.1", res
    check_no_secret(res.stdout + res.stderr, data_dir)


@pytest.mark.parametrize(("status", "words"), [  # 401: test_providers.py (exit 2)
    (403, "model or endpoint not found or not allowed"),
    (404, "model or endpoint not found or not allowed"),
])
def test_http_status_on_the_upgrade(tiny: TinyServer, wavs: Wavs, keyed_env, data_dir: Path,
                                    tmp_path: Path, status: int, words: str) -> None:
    before = tiny.opened
    res = run_rt(talk(tiny.url(f"/http/{status}"), wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert line.startswith(f"rt: HTTP {status} from 127.0.0.1") and words in line, res
    assert tiny.opened == before  # refused before any WebSocket existed, and not retried
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_close_4000_is_fatal_and_not_retried(tiny: TinyServer, wavs: Wavs, keyed_env,
                                             data_dir: Path, tmp_path: Path) -> None:
    before = tiny.opened
    res = run_rt(talk(tiny.url("/close/4000"), wavs, tmp_path), keyed_env)
    line = assert_one_clean_line(res, code=3)
    assert "close 4000" in line, res
    assert tiny.opened == before + 1
    check_no_secret(res.stdout + res.stderr, data_dir)


def test_missing_api_key_for_openai(wavs: Wavs, env, tmp_path: Path) -> None:
    res = run_rt(["talk", "--input", str(wavs.question), "--output", str(tmp_path / "o.wav"),
                  "--plain"], env)
    line = assert_one_clean_line(res, code=2)
    assert line.startswith("rt: OPENAI_API_KEY is not set"), res


def test_missing_input_wav(wavs: Wavs, keyed_env, tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    res = run_rt(["talk", "--url", "ws://127.0.0.1:9/v1/realtime", "--input", str(missing),
                  "--output", str(tmp_path / "o.wav"), "--plain"], keyed_env)
    line = assert_one_clean_line(res, code=2)
    assert line == f"rt: input WAV not found: {missing}", res


@pytest.mark.parametrize(("flags", "words"), [
    (["--threshold", "2"], "invalid turn_detection.threshold: must be between 0 and 1"),
    (["--voice", "nobody"], "invalid voice: must be one of"),
    (["--turn-detection", "sometimes"], "invalid turn_detection: must be one of"),
    (["--silence-ms", "-5"], "invalid turn_detection.silence_duration_ms"),
    (["--prebuffer-ms", "300"], "invalid audio.prebuffer_ms"),
])
def test_invalid_flag_values(wavs: Wavs, keyed_env, tmp_path: Path, flags: list[str],
                             words: str) -> None:
    res = run_rt(talk("ws://127.0.0.1:9/v1/realtime", wavs, tmp_path, *flags), keyed_env)
    line = assert_one_clean_line(res, code=2)
    assert words in line and "(from the command line)" in line, res


def test_a_flag_out_of_the_parsers_range_is_one_line(wavs: Wavs, keyed_env,
                                                     tmp_path: Path) -> None:
    res = run_rt(talk("ws://127.0.0.1:9/v1/realtime", wavs, tmp_path, "--max-turns", "0"),
                 keyed_env)
    assert res.code == 2 and "Traceback" not in res.stderr, res
    assert "--max-turns" in res.stderr
    assert_one_clean_line(res, code=2)


def test_resume_of_an_unknown_session(wavs: Wavs, keyed_env, tmp_path: Path) -> None:
    res = run_rt(["resume", "abc123", "--url", "ws://127.0.0.1:9/v1/realtime", "--input",
                  str(wavs.question), "--output", str(tmp_path / "o.wav"), "--plain"], keyed_env)
    line = assert_one_clean_line(res, code=5)
    assert line.startswith("rt: no session matches 'abc123'"), res
