"""`--plain`/`--json` output names each connection once, with both providers: OpenAI's once its
`session.created` gave the server session's id, Gemini's (whose service names no session) once
the core recorded the session it made up, right after the socket opened. Found by
tests/e2e/test_providers.py: a Gemini reconnect was never printed."""

from __future__ import annotations

import io
import json

import pytest

from realtime_cli.core import commands as cmd
from realtime_cli.core.records import ConnectionRecord
from realtime_cli.runtime.output import LineOutput


def record(index: int, reason: str, server_id: str | None = None,
           closed: bool = False) -> cmd.Journal:
    return cmd.Journal(record=ConnectionRecord(
        session_id="s" * 32, index=index, reason=reason, opened_at=1.0,
        server_session_id=server_id, closed_at=2.0 if closed else None,
        close_code=1000 if closed else None))


# What the core journals per connection: the socket opened, the session created (with the
# server's id where the provider names one), then the close.
OPENAI = [record(1, "initial"), record(1, "initial", "sess_A"),
          record(1, "initial", closed=True),
          record(2, "reconnect"), record(2, "reconnect", "sess_B")]
GEMINI = [record(1, "initial"), record(1, "initial"), record(1, "initial", closed=True),
          record(2, "reconnect"), record(2, "reconnect")]


@pytest.mark.parametrize(("records", "lines"), [
    (OPENAI, ["connection 1 (initial): sess_A", "connection 2 (reconnect): sess_B"]),
    (GEMINI, ["connection 1 (initial)", "connection 2 (reconnect)"]),
])
def test_each_connection_is_one_line(records: list[cmd.Journal], lines: list[str]) -> None:
    out = io.StringIO()
    output = LineOutput(json_lines=False, stream=out)
    for c in records:
        output.handle(c, 1.0)
    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == lines


def test_a_gemini_connection_is_one_json_line_without_a_server_session() -> None:
    out = io.StringIO()
    output = LineOutput(json_lines=True, stream=out)
    for c in GEMINI:
        output.handle(c, 1.0)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["event"], e["index"], e["reason"], e["server_session_id"]) for e in events] == [
        ("connection", 1, "initial", None), ("connection", 2, "reconnect", None)]
