"""Hand-built snapshots for the dashboard tests."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.core.records import SessionFigures
from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
from realtime_cli.core.states import SessionState
from realtime_cli.ui.view import DashboardView
from realtime_cli.usage import TokenUsage

CUT_TEXT = "It is sunny and warm in Paris, about twenty-four degrees today."
HEARD = 30  # "It is sunny and warm in Paris,"


def snapshot(**changes: Any) -> CoreSnapshot:
    values: dict[str, Any] = dict(
        session_id="a1b2c3d4e5f60718",
        model="gpt-realtime",
        voice="marin",
        state=SessionState.READY,
        connected=True,
        connection_index=1,
        reconnects=0,
        rollovers=0,
        expires_in_s=1745.2,
        elapsed_s=83.4,
        muted=False,
        push_to_talk=False,
        ptt_open=False,
        transcript=(
            TranscriptLine("user", "user_audio", "What's the weather like in Paris?"),
            TranscriptLine("assistant", "assistant", CUT_TEXT, heard_chars=HEARD,
                           interrupted=True),
            TranscriptLine("user", "user_audio", "And London?", streaming=True),
        ),
        turns_by_kind={"user_audio": 2, "assistant": 1},
        interruptions_by_kind={"speech_overlap": 1},
        last_latency_ms=420.0,
        avg_latency_ms=380.5,
        time_to_ready_ms=812.0,
        tokens=TokenUsage(input_tokens=12345, output_tokens=4567, cached_tokens=1200,
                          input_audio_tokens=10000, output_audio_tokens=4000),
        user_turns=2,
        assistant_turns=1,
    )
    values.update(changes)
    return CoreSnapshot(**values)


def figures(core: CoreSnapshot, **changes: Any) -> SessionFigures:
    """The figures the core would report beside `core` (the same counts), with `changes`."""
    values: dict[str, Any] = dict(
        session_id=core.session_id, user_turns=core.user_turns,
        assistant_turns=core.assistant_turns, tool_calls=core.turns_by_kind.get("tool_call", 0),
        speech_overlaps=core.interruptions_by_kind.get("speech_overlap", 0),
        cancel_requests=core.interruptions_by_kind.get("cancel_request", 0),
        manual_cancels=core.interruptions_by_kind.get("manual_cancel", 0),
        errors=core.errors, time_to_ready_ms=core.time_to_ready_ms, reconnects=core.reconnects,
        rollovers=core.rollovers)
    values.update(changes)
    return SessionFigures(**values)


MIC = SourceLevels(level_dbfs=-23.4, speech=True)
SINK = SinkStatus(item_id="it1", played_samples=2400, buffered_ms=240.0, level_dbfs=-18.0,
                  underruns=2, idle=False)


def view(core: CoreSnapshot | None = None, **kwargs: Any) -> DashboardView:
    args: dict[str, Any] = dict(endpoint_host="api.openai.com", cost_usd=0.0123,
                                mode="server_vad")
    args.update(kwargs)
    mic = args.pop("mic", MIC)
    sink = args.pop("sink", SINK)
    core = core or snapshot()
    args.setdefault("figures", figures(core))
    return DashboardView.build(core, mic, sink, **args)


def console(width: int = 100, height: int = 30) -> Console:
    return Console(width=width, height=height, force_terminal=True, color_system=None,
                   record=True)
