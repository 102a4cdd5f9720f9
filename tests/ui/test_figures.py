"""The words for each session figure, shared by the exit summary, `rt sessions show`, `rt stats`
and the Markdown export."""

from __future__ import annotations

from datetime import datetime

from realtime_cli.core.records import SessionFigures
from realtime_cli.ui.figures import (
    figure_rows,
    interruptions_text,
    seconds_text,
    summary_lines,
    turns_text,
)

LAST = datetime(2026, 12, 2, 14, 3, 22).timestamp()
FIGURES = SessionFigures(
    session_id="a1b2c3d4e5f6", user_turns=3, assistant_turns=2, tool_calls=1, speech_overlaps=1,
    manual_cancels=1, heard_fraction=0.4, errors=1, time_to_ready_ms=812.0, audio_sent_ms=12_000.0,
    audio_received_ms=9_000.0, audio_heard_ms=7_250.0, idle_s=75.0, reconnects=2, rollovers=1,
    last_activity_at=LAST)


def test_every_figure_has_a_row() -> None:
    assert figure_rows(FIGURES) == [
        ("Turns", "you 3 · assistant 2 · tool calls 1"),
        ("Interrupted", "2 (barge-in 1 · key 1), 100% of answers, 40% heard"),
        ("Audio", "sent 12.0 s · received 9.0 s · heard 7.2 s"),
        ("Timing", "ready in 812 ms · idle 01:15 · last activity 14:03:22"),
        ("Trouble", "errors 1 · reconnects 2 · rollovers 1"),
    ]


def test_unknown_figures_say_so() -> None:
    rows = dict(figure_rows(SessionFigures(session_id="s")))
    assert rows["Interrupted"] == "0"  # no rate without an answer, no heard share without a cut
    assert rows["Timing"] == "ready in — · idle 0.0 s · last activity —"
    assert rows["Trouble"] == "none"


def test_interruptions_name_only_the_kinds_that_happened() -> None:
    assert interruptions_text(3, {"cancel_request": 3, "manual_cancel": 0}, 0.75, None) == (
        "3 (phrase 3), 75% of answers")
    assert turns_text(0, 0, 0) == "you 0 · assistant 0 · tool calls 0"
    assert (seconds_text(59.94), seconds_text(61.0)) == ("59.9 s", "01:01")


def test_the_summary_says_why_the_session_ended_then_every_figure() -> None:
    lines = summary_lines("a1b2c3d4e5f6", 83.4, "idle for 30 s", FIGURES)
    assert lines[0] == "session a1b2c3d4 ended after 01:23: idle for 30 s"
    assert lines[1:-1] == [f"  {label:<12} {text}" for label, text in figure_rows(FIGURES)]
    assert lines[-1] == "  see `rt sessions show a1b2c3d4`"
    assert summary_lines("a1b2c3d4e5f6", None, None, None) == [
        "session a1b2c3d4 ended", "  see `rt sessions show a1b2c3d4`"]
