"""How each session figure is written for a person, in the same words wherever it appears: the
dashboard, the exit summary, `rt sessions list|show`, `rt stats` and the exports.

What each figure counts is defined once, by `SessionFigures` (core/records.py); this module
only says it. Plain text without Rich, so the CLI and the exports use it as well as the
dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from realtime_cli.core.records import SessionFigures
from realtime_cli.ui.view import (
    INTERRUPTION_LABELS,
    format_duration,
    format_ms,
    interruption_kinds,
    percent,
)


def turns_text(user: int, assistant: int, tool_calls: int) -> str:
    """User turns (what you said or typed), assistant turns (answers that said something) and
    tool calls."""
    return f"you {user} · assistant {assistant} · tool calls {tool_calls}"


def kinds_text(by_kind: Mapping[str, int]) -> str:
    """`barge-in 1 · key 2`: the kinds that happened, in a fixed order."""
    return " · ".join(f"{label} {by_kind[kind]}" for kind, label in INTERRUPTION_LABELS.items()
                      if by_kind.get(kind))


def interruptions_text(total: int, by_kind: Mapping[str, int], rate: float | None,
                       heard: float | None) -> str:
    """`2 (barge-in 1 · key 1), 50% of answers, 40% heard`: how many, of which kind, per
    assistant turn, and the average share of an interrupted answer that was heard."""
    text = str(total)
    if kinds := kinds_text(by_kind):
        text += f" ({kinds})"
    if rate is not None:
        text += f", {percent(rate)} of answers"
    if heard is not None:
        text += f", {percent(heard)} heard"
    return text


def trouble_text(errors: int, reconnects: int, rollovers: int) -> str:
    """`errors 1 · reconnects 2`: the ones that happened, or `none` (so a clean run prints no
    line with the word "error" in it for scripts to trip on)."""
    counts = (("errors", errors), ("reconnects", reconnects), ("rollovers", rollovers))
    return " · ".join(f"{name} {n:,}" for name, n in counts if n) or "none"


def seconds_text(seconds: float) -> str:
    """`0.6 s` below a minute, `mm:ss` (or `h:mm:ss`) from there on."""
    return f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)


def audio_text(figures: SessionFigures) -> str:
    return (f"sent {seconds_text(figures.audio_sent_ms / 1000)} · "
            f"received {seconds_text(figures.audio_received_ms / 1000)} · "
            f"heard {seconds_text(figures.audio_heard_ms / 1000)}")


def clock_time(wall: float | None) -> str:
    return "—" if wall is None else datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def figure_rows(figures: SessionFigures) -> list[tuple[str, str]]:
    """Every figure as (label, text) rows: `rt sessions show`, the exit summary and the
    Markdown export list these."""
    f = figures
    return [
        ("Turns", turns_text(f.user_turns, f.assistant_turns, f.tool_calls)),
        ("Interrupted", interruptions_text(f.interruptions, interruption_kinds(f),
                                           f.interrupt_rate, f.heard_fraction)),
        ("Audio", audio_text(f)),
        ("Timing", f"ready in {format_ms(f.time_to_ready_ms)} · idle {seconds_text(f.idle_s)} · "
                   f"last activity {clock_time(f.last_activity_at)}"),
        ("Trouble", trouble_text(f.errors, f.reconnects, f.rollovers)),
    ]


def summary_lines(session_id: str, elapsed_s: float | None, reason: str | None,
                  figures: SessionFigures | None) -> list[str]:
    """The paragraph printed when a session ends: why it ended, then every figure."""
    short = session_id[:8]
    ended = f"session {short} ended"
    if elapsed_s is not None:
        ended += f" after {format_duration(elapsed_s)}"
    lines = [f"{ended}: {reason}" if reason else ended]
    if figures is not None:
        lines += [f"  {label:<12} {text}" for label, text in figure_rows(figures)]
    lines.append(f"  see `rt sessions show {short}`")
    return lines
