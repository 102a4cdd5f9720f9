"""One exchange counts the same on every surface: the dashboard, the `--plain`/`--json` exit
summary, `rt sessions list` (and `--json`), `rt sessions show`, `rt stats` and the exports all
show the core's figures (user turns, assistant turns, tool calls, interruptions by kind, ...)."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
import typer
from helpers import Harness
from typer.testing import CliRunner

from realtime_cli.cli import sessions_cmd, stats_cmd
from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.inputs import Action
from realtime_cli.runtime.output import LineOutput
from realtime_cli.storage.db import atomic, open_db
from realtime_cli.storage.paths import db_path
from realtime_cli.storage.sqlite import apply_record
from realtime_cli.ui.view import DashboardView


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("RT_DATA_DIR", str(data))
    return data


def converse() -> Harness:
    """A tool call and its answer, then an answer cut by the interrupt key at a quarter, then
    quit: 2 user turns, 2 assistant turns, 1 tool call, 1 manual cancel, 25% heard."""
    h = Harness(SessionConfig(tools=(ToolSpec(name="get_time"),)), session_id=uuid.uuid4().hex)
    h.ready()
    h.advance(2.0)
    h.feed(h.peer.user_turn(0, 600, "what time is it"))
    h.feed(h.peer.response_created())
    h.feed(h.peer.function_call("get_time", "{}", call_id="call_t") + h.peer.response_done())
    h.tool_output("call_t", "noon")
    h.feed(h.peer.response(audio_ms=1000, transcript="It is noon."))
    h.play(h.peer.item_id, 24_000, idle=True)
    h.feed(h.peer.user_turn(600, 1100, "tell me a story"))
    h.feed(h.peer.response(audio_ms=2000, transcript="Once upon a time", done=False))
    h.play(h.peer.item_id, 500 * 24)
    h.user(Action.INTERRUPT)
    h.feed(h.peer.item_done(status="incomplete") + h.peer.response_done("cancelled"))
    h.user(Action.QUIT)
    return h


def journal(h: Harness, data_dir: Path) -> None:
    conn = open_db(db_path(data_dir))
    try:
        with atomic(conn):
            for c in h.log:
                if isinstance(c, cmd.Journal):
                    apply_record(conn, c.record)
    finally:
        conn.close()


def rt(*args: str) -> str:
    app = typer.Typer()
    app.add_typer(sessions_cmd.sessions_app, name="sessions")
    app.command("stats")(stats_cmd.stats)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


TURNS = "you 2 · assistant 2 · tool calls 1"
CUT = "1 (key 1), 50% of answers, 25% heard"


def test_one_exchange_counts_the_same_on_every_surface(data_dir: Path) -> None:
    h = converse()
    figures = h.core.figures(h.now)
    assert (figures.user_turns, figures.assistant_turns, figures.tool_calls) == (2, 2, 1)

    dash = DashboardView.build(h.core.snapshot(h.now), None, None, figures=figures,
                               endpoint_host="localhost", cost_usd=None, mode="server_vad")
    assert (dash.user_turns, dash.assistant_turns, dash.tool_calls) == (2, 2, 1)
    assert dash.interruptions == (("key", 1),) and dash.heard_fraction == pytest.approx(0.25)

    plain, lines = io.StringIO(), io.StringIO()
    for out, json_lines in ((plain, False), (lines, True)):
        output = LineOutput(json_lines=json_lines, stream=out)
        for c in h.log:
            output.handle(c, 1.0)
    assert f"turns: {TURNS}" in plain.getvalue()
    assert f"interrupted: {CUT}" in plain.getvalue()
    [summary] = [e for e in map(json.loads, lines.getvalue().splitlines())
                 if e["event"] == "summary"]
    assert (summary["user_turns"], summary["assistant_turns"], summary["tool_calls"]) == (2, 2, 1)
    assert summary["manual_cancels"] == 1 and summary["interrupt_rate"] == 0.5

    journal(h, data_dir)
    sid = h.core.session_id
    [row] = json.loads(rt("sessions", "list", "--json"))
    assert (row["user_turns"], row["assistant_turns"], row["tool_calls"], row["interruptions"]) \
        == (2, 2, 1, 1)
    header, listed = rt("sessions", "list").splitlines()
    assert listed.split()[4:9] == ["2", "2", "1", "1", "ended"]  # after the date, time, duration
    shown = rt("sessions", "show", sid[:8])
    assert f"Turns        {TURNS}" in shown and f"Interrupted  {CUT}" in shown
    assert "Audio        sent 0.0 s · received 3.0 s · heard 1.5 s" in shown
    assert "Trouble      none" in shown
    stats = json.loads(rt("stats", "--json"))
    assert (stats["user_turns"], stats["assistant_turns"], stats["tool_calls"]) == (2, 2, 1)
    assert stats["interruptions_by_kind"]["manual_cancel"] == 1
    assert stats["interrupt_rate"] == 0.5 and stats["heard_fraction"] == pytest.approx(0.25)
    assert f"Turns           {TURNS}" in rt("stats")
    assert f"- Turns: {TURNS}" in rt("sessions", "export", sid, "-f", "md")
    exported = json.loads(rt("sessions", "export", sid))
    assert exported["figures"]["tool_calls"] == 1
    assert exported["session"]["assistant_turns"] == 2
    assert exported["figures"]["transcription"]["seconds"] == 0.0
