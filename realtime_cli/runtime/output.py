"""Plain-line and JSON-line output for `rt talk` when stdout is not a terminal, and the exit
summary every front end prints.

Built from the same commands the core returns (status changes, journal records, notices),
so scripted runs see exactly what the dashboard shows, one fact per line; the session's
figures (`SessionFigures`) close the run in the words `rt sessions show` uses.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from realtime_cli.core import commands as cmd
from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemKind,
    ItemRecord,
    SessionEnded,
    SessionFigures,
    SessionStarted,
    TurnRecord,
)
from realtime_cli.storage.export import figures_to_json
from realtime_cli.ui.figures import figure_rows


class SessionOutcome:
    """Why the session ended and its last figures, kept as the commands pass (an observer):
    the core journals the figures just before the end, so both are known once it has ended."""

    def __init__(self) -> None:
        self.figures: SessionFigures | None = None
        self.reason: str | None = None

    def handle(self, command: cmd.Command, elapsed: float) -> None:
        match command:
            case cmd.Journal(record=SessionFigures() as figures):
                self.figures = figures
            case cmd.Journal(record=SessionEnded() as ended):
                self.reason = ended.reason
            case cmd.Shutdown() if self.reason is None:  # never connected: nothing journaled
                self.reason = command.reason
            case _:
                pass


class LineOutput:
    """Prints one line per fact; `json_lines=True` prints one JSON object per line instead."""

    def __init__(self, *, json_lines: bool, stream: TextIO | None = None,
                 transcripts: bool = True) -> None:
        self.json_lines = json_lines
        self.transcripts = transcripts  # user speech gets a transcript later: print it then
        self.stream = stream or sys.stdout
        self._printed_items: dict[str, tuple[str | None, bool]] = {}
        self._connections: dict[int, int] = {}  # index -> open records seen (-1: printed)
        self.outcome = SessionOutcome()
        self.t0: float | None = None
        self._gone = False

    def _emit(self, elapsed: float, kind: str, text: str, data: dict[str, Any]) -> None:
        if self._gone:
            return
        if self.json_lines:
            line = json.dumps({"t": round(elapsed, 3), "event": kind, **data}, ensure_ascii=False)
        else:
            line = f"[{elapsed:7.2f}] {text}"
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:  # `rt talk | head`: the reader left; the conversation goes on
            self._gone = True
            _to_devnull(self.stream)

    def handle(self, command: cmd.Command, elapsed: float) -> None:
        self.outcome.handle(command, elapsed)
        match command:
            case cmd.StatusChanged():
                self._emit(elapsed, "state", f"state: {command.new.value} ({command.reason})",
                           {"old": command.old.value, "new": command.new.value,
                            "reason": command.reason})
            case cmd.Notice():
                self._emit(elapsed, "notice", f"{command.level}: {command.text}",
                           {"level": command.level, "text": command.text})
            case cmd.Journal():
                self._record(command.record, elapsed)
            case _:
                pass

    def _record(self, record: object, elapsed: float) -> None:
        match record:
            case SessionStarted():
                self._emit(elapsed, "session", f"session {record.session_id[:8]} "
                           f"({'resumed' if record.resumed else 'new'}), model {record.model}",
                           {"session_id": record.session_id, "model": record.model,
                            "resumed": record.resumed})
            case ConnectionRecord() if record.closed_at is None:
                self._connection(record, elapsed)
            case ItemRecord():
                self._item(record, elapsed)
            case InterruptionRecord():
                self._emit(elapsed, "interruption",
                           f"interrupted ({record.kind}) at {record.position_ms} ms",
                           {"kind": record.kind, "position_ms": record.position_ms,
                            "heard_chars": record.heard_chars})
            case TurnRecord():
                lat = f"{record.latency_ms:.0f} ms" if record.latency_ms is not None else "n/a"
                self._emit(elapsed, "turn",
                           f"turn {record.turn_index}: {record.status}, latency {lat}, "
                           f"tokens in {record.usage.input_tokens} "
                           f"(cached {record.usage.cached_tokens}) out {record.usage.output_tokens}",
                           {"turn": record.turn_index, "status": record.status,
                            "latency_ms": record.latency_ms,
                            "input_tokens": record.usage.input_tokens,
                            "cached_tokens": record.usage.cached_tokens,
                            "output_tokens": record.usage.output_tokens,
                            "interrupted": record.interrupted})
            case SessionEnded():
                self._emit(elapsed, "end", f"session ended: {record.reason}",
                           {"reason": record.reason, "status": record.status.value})
                self._summary(elapsed)
            case _:
                pass

    def _summary(self, elapsed: float) -> None:
        """The figures at the end: one line per row in plain text, one `summary` object in JSON."""
        figures = self.outcome.figures
        if figures is None:
            return
        if self.json_lines:
            self._emit(elapsed, "summary", "", figures_to_json(figures))
            return
        for label, text in figure_rows(figures):
            self._emit(elapsed, "summary", f"{label.lower()}: {text}", {})

    def _connection(self, record: ConnectionRecord, elapsed: float) -> None:
        """One line per connection, once its session is known: the core records a connection
        when its socket opens, then with the session it opened (and the server's id for it,
        where the provider names one: OpenAI does, Gemini does not)."""
        seen = self._connections.get(record.index, 0)
        if seen < 0:
            return
        if not record.server_session_id and seen == 0:
            self._connections[record.index] = 1  # the socket opened; the session comes next
            return
        self._connections[record.index] = -1
        named = f": {record.server_session_id}" if record.server_session_id else ""
        self._emit(elapsed, "connection", f"connection {record.index} ({record.reason}){named}",
                   {"index": record.index, "reason": record.reason,
                    "server_session_id": record.server_session_id})

    def _item(self, r: ItemRecord, elapsed: float) -> None:
        """Print each item once its words are known, and again only if they changed."""
        if r.kind is ItemKind.ASSISTANT:
            if r.status == "in_progress":
                return
            text = r.heard_text if r.truncated else r.transcript
            key = (text, r.truncated)
            label = "assistant" + (" (cut)" if r.truncated else "")
        elif r.kind in (ItemKind.USER_AUDIO, ItemKind.USER_TEXT):
            text = r.transcript
            key = (text, False)
            label = "user"
            if text is None and r.kind is ItemKind.USER_AUDIO:
                if self.transcripts:
                    return
                text = f"<{r.audio_ms / 1000:.1f} s of speech>"
        elif r.kind is ItemKind.TOOL_CALL:
            text, key, label = f"{r.name}({r.arguments})", (r.arguments, False), "tool call"
        else:
            text, key, label = r.output, (r.output, False), "tool result"
        if self._printed_items.get(r.local_id) == key:
            return
        self._printed_items[r.local_id] = key
        data = {"role": r.role, "kind": r.kind.value, "item_id": r.local_id, "text": text,
                "truncated": r.truncated, "audio_end_ms": r.audio_end_ms}
        self._emit(elapsed, "transcript", f"{label}: {text}", data)


def _to_devnull(stream: TextIO) -> None:
    """Point a closed pipe's fd at /dev/null, so the interpreter's final flush does not fail
    again (the Python docs' recipe for SIGPIPE)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
