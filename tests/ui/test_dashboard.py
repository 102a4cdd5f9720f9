"""The dashboard rendered from hand-built snapshots to a fixed-size Console."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from realtime_cli.audio.echo import EchoStats
from realtime_cli.audio.interfaces import SourceLevels
from realtime_cli.core.snapshot import TranscriptLine
from realtime_cli.core.states import SessionState
from realtime_cli.ui.dashboard import CUT_MARK, Dashboard, LabelRows, TranscriptTail, TwoSides, render
from realtime_cli.ui.view import DashboardView

from .factories import CUT_TEXT, HEARD, console, figures, snapshot, view


def screen(v: DashboardView, width: int = 100, height: int = 30) -> str:
    con = console(width, height)
    con.print(render(v, width, height))
    return con.export_text()


def segments(v: DashboardView, width: int = 100, height: int = 30) -> list[Segment]:
    con = console(width, height)
    return list(con.render(render(v, width, height)))


@pytest.mark.parametrize("state", list(SessionState))
def test_every_lifecycle_state_renders_the_full_layout(state: SessionState) -> None:
    connected = state not in (SessionState.INITIALIZING, SessionState.CLOSED,
                              SessionState.ERROR)
    text = screen(view(snapshot(state=state, connected=connected)))
    lines = text.splitlines()
    assert len(lines) == 30
    assert all(len(line) <= 100 for line in lines)
    assert "(100 x" not in text  # no Layout placeholder anywhere
    assert state.value.upper() in lines[1]
    for expected in ("a1b2c3d4", "gpt-realtime", "marin", "api.openai.com",
                     "expires 29:05", "elapsed 01:23", "server_vad"):
        assert expected in text
    assert ("● connected" in text) == connected
    for title in ("levels", "turns", "usage", "transcript"):
        assert title in text
    assert "m/space mute" in lines[-1] and "q quit" in lines[-1]
    assert "i/Esc interrupt" in lines[-1] and "t type" in lines[-1]


def test_state_label_is_coloured() -> None:
    v = view(snapshot(state=SessionState.ERROR, connected=False))
    styled = [s for s in segments(v) if s.text.strip() == "ERROR"]
    assert styled and styled[0].style is not None and styled[0].style.bgcolor is not None


def test_header_shows_reconnects_and_disconnection() -> None:
    text = screen(view(snapshot(state=SessionState.INITIALIZING, connected=False,
                                reconnects=2, connection_index=3)))
    assert "connecting" in text
    assert "conn #3" in text and "2 reconnects" in text


def test_interrupted_transcript_shows_cut_mark_and_dims_the_unheard_rest() -> None:
    v = view()
    text = screen(v)
    assert CUT_MARK in text
    assert f"{CUT_TEXT[:HEARD]}{CUT_MARK}" in text
    segs = segments(v)
    at = next(i for i, seg in enumerate(segs) if seg.text == CUT_MARK)
    unheard = segs[at + 1]
    assert unheard.text == CUT_TEXT[HEARD:]
    assert unheard.style is not None and unheard.style.dim and unheard.style.strike
    heard = segs[at - 1]
    assert heard.text == CUT_TEXT[:HEARD]
    assert not (heard.style and (heard.style.strike or heard.style.dim))


def test_streaming_line_is_marked() -> None:
    text = screen(view())
    assert "And London? …" in text


def test_levels_usage_and_turn_stats() -> None:
    text = screen(view())
    assert "-23 dB ●" in text
    assert "-18 dB ▶" in text
    assert "240 ms" in text and "2 underruns" in text
    assert "barge-in 1" in text
    assert "420 ms" in text and "380 ms" in text and "812 ms" in text
    assert "12.3k" in text and "11.1k" in text and "1.2k" in text and "4.6k" in text
    assert "$0.0123" in text


def test_muted_mic_shows_muted_instead_of_a_meter() -> None:
    text = screen(view(snapshot(muted=True)))
    assert "MUTED" in text
    assert "-23 dB" not in text


def test_unknown_cost_and_missing_devices() -> None:
    text = screen(view(cost_usd=None, mic=None, sink=None))
    assert "n/a" in text and "no input" in text and "no output" in text


def test_push_to_talk_footer_and_indicator() -> None:
    text = screen(view(snapshot(push_to_talk=True, ptt_open=True), mode="push-to-talk"))
    footer = text.splitlines()[-1]
    assert "space talk" in footer and "m mute" in footer and "m/space" not in footer
    assert "● talking" in text


def test_notice_line_is_one_line() -> None:
    v = view(snapshot(notice_level="error", notice_text="server refused: bad voice\nmore"))
    lines = screen(v).splitlines()
    assert lines[-2].startswith("✖ server refused: bad voice")
    assert "more" not in lines[-2]


def test_input_line_replaces_the_keys_while_typing() -> None:
    v = view()
    typed = DashboardView(**{**{f: getattr(v, f) for f in v.__dataclass_fields__},
                             "input_line": "hello there"})
    footer = screen(typed).splitlines()[-1]
    assert "type › hello there" in footer and "Enter send" in footer


def test_long_transcript_keeps_the_newest_lines() -> None:
    lines = tuple(TranscriptLine("user", "user_audio", f"message number {i}") for i in range(60))
    text = screen(view(snapshot(transcript=lines)))
    assert "message number 59" in text
    assert "message number 0\n" not in text and "message number 0 " not in text


def test_empty_transcript_has_a_hint() -> None:
    assert "press t to type" in screen(view(snapshot(transcript=())))


@pytest.mark.parametrize(("width", "height"), [(79, 30), (100, 19), (60, 12), (40, 8)])
def test_small_terminal_degrades_to_header_transcript_footer(width: int, height: int) -> None:
    text = screen(view(), width, height)
    lines = text.splitlines()
    assert len(lines) == height
    assert all(len(line) <= width for line in lines)
    assert "levels" not in text and "usage" not in text
    assert "a1b2c3d4" in lines[0] and "READY" in lines[0]
    assert "q quit" in lines[-1] or "quit" in lines[-1] or lines[-1].startswith("m/space")
    assert "And London?" in text  # newest transcript line still shown


def test_small_terminal_keeps_a_notice() -> None:
    text = screen(view(snapshot(notice_level="warning", notice_text="mic overflow")), 60, 12)
    assert "⚠ mic overflow" in text.splitlines()[-2]


def test_tiny_terminal_does_not_crash() -> None:
    for width, height in [(10, 3), (1, 1), (20, 2)]:
        screen(view(), width, height)


def test_dashboard_renders_the_latest_view_and_the_input_line() -> None:
    con = Console(file=io.StringIO(), width=100, height=30, force_terminal=True,
                  color_system=None)
    dash = Dashboard(con, screen=False)
    con.print(dash.renderable())
    assert "starting" in con.file.getvalue()  # type: ignore[attr-defined]
    first, second = view(), view(snapshot(state=SessionState.LISTENING))
    dash.update(first)
    dash.update(second)
    assert dash.view is second
    dash.set_input_line("typed")
    rec = console()
    rec.print(dash.renderable())
    out = rec.export_text()
    assert "LISTENING" in out and "type › typed" in out
    assert dash.view is second and second.input_line is None  # views stay untouched
    dash.set_input_line(None)
    rec = console()
    rec.print(dash.renderable())
    assert "q quit" in rec.export_text()


def test_dashboard_starts_and_stops_live() -> None:
    out = io.StringIO()
    con = Console(file=out, width=100, height=30, force_terminal=True, color_system=None)
    with Dashboard(con, screen=False) as dash:
        dash.update(view())
        dash.refresh()
    assert "a1b2c3d4" in out.getvalue()


@pytest.mark.parametrize(("stats", "shown"), [
    (EchoStats("aec", True, True, False, 27.4, 0), "echo aec · -27 dB"),
    (EchoStats("aec", True, False, True, 3.0, 12), "echo aec · learning the room"),
    (EchoStats("half-duplex", True, False, False, 0.0, 40), "echo half-duplex · gating"),
    (EchoStats("half-duplex", False, False, False, 0.0, 40), "echo half-duplex"),
    (EchoStats("off", False, False, False, 0.0, 0), "echo off (headphones)"),
])
def test_the_echo_row_shows_the_mode_and_its_state(stats: EchoStats, shown: str) -> None:
    mic = SourceLevels(level_dbfs=-23.4, speech=True, echo=stats)
    text = screen(view(mic=mic))
    assert shown in text
    assert "echo" not in screen(view())  # a WAV microphone: no echo row at all


def test_turns_panel_shows_user_and_assistant_turns_and_tool_calls() -> None:
    core = snapshot()
    text = screen(view(core, figures=figures(core, tool_calls=1, manual_cancels=1,
                                             heard_fraction=0.25, idle_s=12.0)))
    assert "you   2 · asst 1 · tools 1" in text
    assert "cut   2 (barge-in 1 · key 1)" in text
    assert "heard 25% of cut answers" in text
    assert "idle  00:12" in text


def test_paused_is_shown_in_the_header_and_instead_of_the_microphone() -> None:
    v = view(snapshot(state=SessionState.PAUSED))
    text = screen(v)
    assert "PAUSED" in text.splitlines()[1]  # the state label
    assert "-23 dB" not in text  # nothing is sent: no meter
    styled = [s for s in segments(v) if s.text.strip() == "PAUSED"]
    assert len(styled) == 2 and all(s.style is not None and s.style.bgcolor for s in styled)
    assert "PAUSED" in screen(v, 60, 12).splitlines()[1]  # the compact header too
    assert "p resume" in text.splitlines()[-1]
    assert "p pause" in screen(view()).splitlines()[-1]


def test_usage_shows_the_remaining_rate_limit() -> None:
    limits = ({"name": "tokens", "limit": 40000, "remaining": 27000, "reset_seconds": 19.5},)
    assert "limit  68% tokens · 20 s" in screen(view(rate_limits=limits), 120)
    assert "limit  —" in screen(view())


def test_a_gemini_barge_in_shows_the_cut_and_that_the_model_may_remember_more() -> None:
    """From the core itself: a Gemini answer cut after 0.5 s of 2 s. The transcript shows the
    cut, and the notice line says the service kept the rest."""
    from helpers import Harness

    from realtime_cli.core.config import SessionConfig

    h = Harness(SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck"))
    h.ready()
    h.feed(h.peer.user_turn(0, 900, "tell me a story"))
    h.feed(h.peer.response(audio_ms=2000, transcript="Once upon a time there was a fox.",
                           done=False))
    h.play(h.peer.item_id, 24 * 500)
    h.feed(h.peer.speech_started(3000))
    text = screen(view(h.core.snapshot(h.now), endpoint_host="generativelanguage.googleapis.com"),
                  140, 30)
    assert CUT_MARK in text
    assert "Gemini keeps all it generated, so the model may remember more than you heard" in text


def test_kept_wrapped_rows_draw_the_same_frames_as_fresh_ones() -> None:
    long = "a sentence long enough to wrap over several lines of a narrow terminal " * 3
    lines = (TranscriptLine("user", "user_audio", long),
             TranscriptLine("assistant", "assistant_audio", long, heard_chars=40))
    v = view(snapshot(transcript=lines))
    drawn = [screen(v, width, 30) for width in (60, 100, 60)]  # the second 60 reuses the first's rows
    TranscriptTail._wrapped.clear()
    assert drawn == [screen(v, 60, 30), screen(v, 100, 30), screen(v, 60, 30)]
    assert drawn[0] != drawn[1]


def _cells(renderable: object, width: int) -> list[list[Segment]]:
    """Each line's segments, neighbours of one style merged: what the terminal shows."""
    con = console(width, 10)
    return [list(Segment.simplify(Segment(seg.text, seg.style or Style.null()) for seg in line))
            for line in con.render_lines(renderable, con.options, pad=True)]


def _styled_values() -> list[Text]:
    meter = Text("███████·············", style="green")
    meter.append(" -40 dB")
    meter.append(" ●", style="bold green")
    return [meter, Text("—", style="dim"), Text.assemble(("12", "bold"), " · asst ", ("3", "bold")),
            Text("a value far too long for any of these panels " * 3)]


@pytest.mark.parametrize("width", [8, 12, 24, 31, 40, 117])
def test_the_panels_rows_draw_as_a_rich_grid_would(width: int) -> None:
    """The label/value rows and the header's two sides are drawn without Rich's `Table` (which
    measured its columns on every frame); a `Table.grid` laid out as they were is the reference:
    the same characters in the same styles, long values cut with an ellipsis."""
    for label_width in (4, 6):
        ours, reference = LabelRows(label_width), Table.grid(padding=(0, 1), expand=True)
        reference.add_column(style="dim", no_wrap=True, width=label_width, min_width=label_width)
        reference.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        for label, value in zip(("mic", "cached", "", "out"), _styled_values(), strict=True):
            ours.add_row(label, value)
            reference.add_row(label, value)
        assert _cells(ours, width) == _cells(reference, width)
    for state in ("RESPONDING", "PAUSED"):
        left = Text("● connected · conn #2", style="green")
        right = Text(f" {state} ", style="bold black on yellow")
        reference = Table.grid(expand=True)
        reference.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        reference.add_column(justify="right", no_wrap=True)
        reference.add_row(left, right)
        assert _cells(TwoSides(left, right), width) == _cells(reference, width)
