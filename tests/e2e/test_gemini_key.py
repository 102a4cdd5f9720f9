"""The Gemini API key: on the wire twice (the `key` query parameter the Live API reference shows
and the `x-goog-api-key` header the SDK sends, since a server imitating the service may read only
one), and nowhere rt shows or keeps anything: not in `rt talk --trace`, `--json` lines, the data
dir, nor the one-line errors of a connection that failed or was refused."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .support import data_bytes, no_traceback, run_rt, start_server, write_wav

pytestmark = pytest.mark.slow

KEY = "AIzaSyE2E-never-shown-0123456789abcdef"


def no_key_anywhere(*texts: str, data_dir: Path | None = None) -> None:
    for text in texts:
        assert KEY not in text, text[-2000:]
    for path, data in data_bytes(data_dir) if data_dir is not None else ():
        assert KEY.encode() not in data, path


def test_the_key_goes_in_the_query_and_the_header_and_nowhere_else(
        env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    """A short run (half a second of silence: connect, set up, stream, end) is all it takes."""
    srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini")
    try:
        trace = tmp_path / "trace.jsonl"
        hush = write_wav(tmp_path / "hush.wav", [500])
        res = run_rt(["talk", "--provider", "gemini", "--url", srv.url, "--input", str(hush),
                      "--output", str(tmp_path / "a.wav"), "--json", "--trace", str(trace)],
                     {**env, "GEMINI_API_KEY": KEY})
        assert res.code == 0, res
        no_traceback(res)
        assert "conn 1: open from" in srv.log_text()
        assert "key in the query and the header" in srv.log_text(), srv.log_text()
        no_key_anywhere(res.stdout, res.stderr, trace.read_text(), srv.log_text(),
                        srv.record.read_text(), data_dir=data_dir)
        assert '"dir":"open"' in trace.read_text()  # the trace names the URL, keyless
        assert '"setup"' in trace.read_text() and '"event": "connection"' in res.stdout, res
    finally:
        srv.stop()


def test_a_refused_key_and_a_failed_connect_are_one_line_without_the_key(
        env: dict[str, str], data_dir: Path, tmp_path: Path) -> None:
    hush = write_wav(tmp_path / "hush.wav", [500])
    srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini", "--refuse-key", KEY)
    try:
        refused = run_rt(["talk", "--provider", "gemini", "--url", srv.url, "--input",
                          str(hush), "--output", str(tmp_path / "a1.wav"), "--json",
                          "--trace", str(tmp_path / "t1.jsonl")],
                         {**env, "GEMINI_API_KEY": KEY})
    finally:
        srv.stop()
    assert refused.code != 0, refused
    assert "API key not valid" in refused.stdout + refused.stderr, refused
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    # the key given in the URL itself, to a port nobody listens on
    failed = run_rt(["talk", "--provider", "gemini", "--url", f"ws://127.0.0.1:{port}/?key={KEY}",
                     "--input", str(hush), "--output", str(tmp_path / "a2.wav"),
                     "--plain", "--trace",
                     str(tmp_path / "t2.jsonl")], env)
    assert failed.code != 0, failed
    assert f"127.0.0.1:{port}" in failed.stderr, failed
    no_key_anywhere(refused.stdout, refused.stderr, failed.stdout, failed.stderr,
                    *(p.read_text() for p in tmp_path.glob("t*.jsonl")), data_dir=data_dir)
    no_traceback(refused)
    no_traceback(failed)
