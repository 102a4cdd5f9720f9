"""DashboardView.build is a pure projection; formatting helpers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from realtime_cli.audio.interfaces import SourceLevels
from realtime_cli.core.snapshot import TranscriptLine
from realtime_cli.core.states import SessionState
from realtime_cli.ui.view import (
    DashboardView,
    TranscriptRow,
    format_cost,
    format_dbfs,
    format_duration,
    format_tokens,
    meter_bar,
    meter_fraction,
    rate_limit_text,
)

from .factories import CUT_TEXT, HEARD, figures, snapshot, view


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "--:--"), (0, "00:00"), (59.9, "00:59"), (61, "01:01"), (3599, "59:59"),
     (3600, "1:00:00"), (3725, "1:02:05"), (-3, "00:00"), (math.nan, "--:--")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0"), (999, "999"), (1000, "1.0k"), (12345, "12.3k"), (1_234_567, "1.23M")],
)
def test_format_tokens(count: int, text: str) -> None:
    assert format_tokens(count) == text


def test_format_cost_and_dbfs() -> None:
    assert format_cost(None) == "n/a"
    assert format_cost(0.0123) == "$0.0123"
    assert format_cost(2.5) == "$2.50"
    assert format_dbfs(None).strip() == "— dB"
    assert format_dbfs(-math.inf).strip() == "-inf dB"
    assert format_dbfs(-12.34).strip() == "-12 dB"


@pytest.mark.parametrize(
    ("dbfs", "bar"),
    [(None, "··········"), (-math.inf, "··········"), (-90.0, "··········"),
     (-60.0, "··········"), (-30.0, "█████·····"), (0.0, "██████████"), (6.0, "██████████")],
)
def test_meter_bar_is_linear_in_db_and_fixed_width(dbfs: float | None, bar: str) -> None:
    assert meter_bar(dbfs, 10) == bar
    assert len(meter_bar(dbfs, 7)) == 7


def test_meter_fraction_bounds() -> None:
    assert meter_fraction(-45.0) == pytest.approx(0.25)
    assert meter_bar(-10.0, 0) == ""


def test_build_projects_header_fields() -> None:
    v = view(snapshot(state=SessionState.RESPONDING, reconnects=2, connection_index=3))
    assert v.session_short_id == "a1b2c3d4"
    assert (v.model, v.voice, v.endpoint_host, v.mode) == (
        "gpt-realtime", "marin", "api.openai.com", "server_vad")
    assert v.state == "responding"
    assert v.state_style
    assert (v.reconnects, v.connection_index) == (2, 3)
    assert v.expires_in == "29:05"
    assert v.elapsed == "01:23"
    assert not v.expiring_soon
    assert view(snapshot(expires_in_s=120.0)).expiring_soon


def test_build_is_pure_and_frozen() -> None:
    core = snapshot()
    first, second = view(core), view(core)
    assert first == second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.state = "error"  # type: ignore[misc]


def test_build_levels_and_sink() -> None:
    v = view()
    assert (v.mic_dbfs, v.mic_speech) == (-23, True)
    assert (v.out_dbfs, v.buffered_ms, v.underruns, v.playing) == (-18.0, 240.0, 2, True)
    bare = view(mic=None, sink=None)
    assert (bare.mic_dbfs, bare.out_dbfs, bare.buffered_ms, bare.underruns) == (
        None, None, None, 0)
    assert not bare.mic_speech and not bare.playing


def test_muted_hides_the_speech_indicator() -> None:
    v = view(snapshot(muted=True), mic=SourceLevels(level_dbfs=-10.0, speech=True))
    assert v.muted and not v.mic_speech


def test_build_turn_stats_and_usage() -> None:
    v = view()
    assert (v.user_turns, v.assistant_turns, v.tool_calls) == (2, 1, 0)
    assert v.interruptions == (("barge-in", 1),)
    assert v.interruption_total == 1
    assert (v.last_latency_ms, v.avg_latency_ms, v.time_to_ready_ms) == (420.0, 380.5, 812.0)
    assert (v.input_tokens, v.cached_tokens, v.fresh_input_tokens, v.output_tokens) == (
        12345, 1200, 11145, 4567)
    assert v.cost_usd == 0.0123


def test_transcript_rows_split_at_the_cut() -> None:
    rows = view().transcript
    assert rows[0] == TranscriptRow(role="user", kind="user_audio",
                                    heard="What's the weather like in Paris?")
    cut = rows[1]
    assert cut.cut
    assert cut.heard == CUT_TEXT[:HEARD]
    assert cut.unheard == CUT_TEXT[HEARD:]
    assert rows[2].streaming and not rows[2].cut


def test_heard_chars_out_of_range_is_clamped() -> None:
    row = TranscriptRow.from_line(TranscriptLine("assistant", "assistant", "abc", heard_chars=9))
    assert (row.heard, row.unheard, row.cut) == ("abc", "", True)
    row = TranscriptRow.from_line(TranscriptLine("assistant", "assistant", "abc", heard_chars=0))
    assert (row.heard, row.unheard) == ("", "abc")


def test_notice_is_one_line_never_a_traceback() -> None:
    text = "\nTraceback (most recent call last):\n  File x\nValueError: boom"
    v = view(snapshot(notice_level="error", notice_text=text))
    assert v.notice_text == "ValueError: boom"
    assert view(snapshot(notice_text="first\nsecond")).notice_text == "first"
    assert view(snapshot(notice_text="  \n")).notice_text is None


def test_build_needs_keyword_arguments() -> None:
    with pytest.raises(TypeError):
        core = snapshot()
        DashboardView.build(core, None, None, figures(core), "host", None,  # type: ignore[call-arg]
                            "vad")


def test_the_turn_figures_are_the_cores_figures() -> None:
    core = snapshot()
    v = view(core, figures=figures(core, tool_calls=3, manual_cancels=2, heard_fraction=0.25,
                                   idle_s=75.0, errors=1))
    assert (v.user_turns, v.assistant_turns, v.tool_calls) == (2, 1, 3)
    assert v.interruptions == (("barge-in", 1), ("key", 2))
    assert v.interruption_total == 3
    assert v.heard_fraction == 0.25 and v.idle == "01:15" and v.errors == 1


def test_paused_is_a_flag_of_its_own() -> None:
    assert view(snapshot(state=SessionState.PAUSED)).paused
    assert not view(snapshot(state=SessionState.READY)).paused


def test_the_tightest_rate_limit_is_shown() -> None:
    limits = ({"name": "requests", "limit": 100, "remaining": 90, "reset_seconds": 1.0},
              {"name": "tokens", "limit": 40000, "remaining": 9900, "reset_seconds": 19.5})
    assert view(rate_limits=limits).rate_limit == "25% tokens · 20 s"
    assert rate_limit_text(({"name": "tokens", "limit": 10, "remaining": 2},)) == "20% tokens"
    assert rate_limit_text(({"name": "requests", "limit": 10, "remaining": 9,
                             "reset_seconds": 0.25},)) == "90% requests · 0.2 s"
    assert view().rate_limit == ""
    assert rate_limit_text(({"name": "odd", "limit": "many"},)) == ""
