"""`SessionCore`: the whole conversation logic of rt as one pure state machine.

Contract: feed every input to `handle(input)` and execute the returned commands in order.
Call `handle(Tick(now))` no later than `next_deadline()`. Feed a fresh `Playback` before a
server event whenever playback has moved, so barge-in truncates at what was really heard.
The core holds no sockets, threads, clocks or callbacks; it imports nothing that does I/O.
"""

from __future__ import annotations

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.connection import ConnectionFlow
from realtime_cli.core.conversation import USER_ROLES, InterruptionKind
from realtime_cli.core.records import ItemKind
from realtime_cli.core.session_base import EXIT_FATAL, QUIET_STATES, Commands
from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
from realtime_cli.core.states import SessionState, Trigger
from realtime_cli.core.turn_flow import TurnFlow
from realtime_cli.protocol import events as ev

__all__ = ["EXIT_FATAL", "SessionCore"]


class SessionCore(ConnectionFlow, TurnFlow):
    """One conversation. Built from `ConnectionFlow` and `TurnFlow` over `CoreBase` (the shared
    state); this class dispatches inputs, takes user commands, keeps time and draws snapshots."""

    def handle(self, event: inp.Input) -> Commands:
        out: Commands = []
        match event:
            case inp.Begin():
                self._begin(event, out)
            case inp.Opened():
                self._opened(event.now, out)
            case inp.ConnectFailed():
                self._connect_failed(event, out)
            case inp.Closed():
                self._closed(event, out)
            case inp.ServerMessage():
                self._server(event.event, event.now, out)
            case inp.MicAudio():
                self._mic(event, out)
            case inp.Playback():
                self._playback(event, out)
            case inp.UserCommand():
                self._user(event, out)
            case inp.ToolOutput():
                self._tool_output(event, out)
            case inp.StorageTrouble():
                self._note("warning", f"could not save to the journal ({event.problem}); the "
                                      "conversation goes on", out)
            case inp.Tick():
                self._tick(event.now, out)
        return out

    def _server(self, e: ev.ServerEvent, now: float, out: Commands) -> None:
        if self.response is not None:
            self.response.last_event_at = now
        match e:
            case ev.SessionCreated():
                self._session_created(e, now, out)
            case ev.SessionUpdated():
                self._session_updated(now, out)
            case ev.ServerError():
                self._server_error(e, now, out)
            case ev.SpeechStarted():
                self._speech_started(e, now, out)
            case ev.SpeechStopped():
                self._speech_stopped(e, now, out)
            case ev.InputAudioBufferCommitted():
                self._committed(e, now, out)
            case ev.InputAudioTimeoutTriggered():
                self._speech_start_ms = e.audio_start_ms
            case ev.InputTranscriptionDelta():
                item = self._item_by_server(e.item_id)
                if item is not None:
                    item.transcript += e.delta
            case ev.InputTranscriptionCompleted():
                self._user_transcript(e, now, out)
            case ev.InputTranscriptionFailed():
                self._note("warning", f"transcription failed: {e.message}", out)
            case ev.ResponseCreated():
                self._response_created(e, now, out)
            case ev.OutputItemAdded():
                self._output_item(e.response_id, e.item, now, out, done=False)
            case ev.OutputItemDone():
                self._output_item(e.response_id, e.item, now, out, done=True)
            case ev.OutputAudioDelta():
                self._audio_delta(e, now, out)
            case ev.OutputAudioDone():
                item = self._item_by_server(e.item_id)
                if item is not None:
                    item.audio_done = True
            case ev.OutputTranscriptDelta():
                item = self._item_by_server(e.item_id)
                if item is not None and not item.transcript_final:
                    item.transcript += e.delta
            case ev.OutputTranscriptDone():
                item = self._item_by_server(e.item_id)
                if item is not None:
                    item.transcript, item.transcript_final = e.transcript, True
            case ev.FunctionCallArgumentsDelta():
                item = self._item_by_server(e.item_id)
                if item is not None:
                    item.arguments += e.delta
            case ev.FunctionCallArgumentsDone():
                self._function_call(e.call_id, e.item_id, e.name, e.arguments, now, out)
            case ev.ConversationItemTruncated():
                self._truncated(e, now, out)
            case ev.ResponseDone():
                self._response_done(e, now, out)
            case ev.RateLimitsUpdated():
                self.rate_limits = e.rate_limits
            case ev.MalformedServerEvent():
                self.metrics.protocol_violations += 1
                self._note("warning", f"ignored a malformed server event ({e.reason})", out)
            case ev.UnknownServerEvent():
                self.metrics.unknown_events += 1
            case (ev.ConversationItemAdded() | ev.ConversationItemDone()
                  | ev.ConversationItemDeleted() | ev.InputAudioBufferCleared()
                  | ev.ContentPartAdded() | ev.ContentPartDone()):
                pass  # nothing rt needs: the response and input events carry the same facts

    def _user(self, event: inp.UserCommand, out: Commands) -> None:
        now = event.now
        self.last_activity = now
        match event.action:
            case inp.Action.QUIT:
                self._close(now, "quit by user", event.exit_code, out)
            case inp.Action.MUTE | inp.Action.UNMUTE | inp.Action.TOGGLE_MUTE:
                self.muted = {inp.Action.MUTE: True, inp.Action.UNMUTE: False}.get(
                    event.action, not self.muted)
                self._note("info", "microphone muted" if self.muted else "microphone on", out)
            case inp.Action.INTERRUPT:
                if self._assistant_audible():
                    self._interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
                else:
                    self._note("info", "nothing to interrupt", out)
            case inp.Action.SEND_TEXT:
                self._send_text(event.text or "", now, out)
            case inp.Action.PUSH_TO_TALK:
                self._push_to_talk(now, out)
            case inp.Action.PAUSE:
                if self._assistant_audible():
                    self._interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
                if self._move(Trigger.PAUSE, now, out, "paused"):
                    self.ptt_open = False
                    out.append(cmd.Send(event=ev.InputAudioBufferClear()))
            case inp.Action.RESUME:
                self._move(Trigger.RESUME, now, out, "resumed")

    def _send_text(self, text: str, now: float, out: Commands) -> None:
        text = text.strip()
        if not text:
            return
        if not self.connected or not self.lifecycle.can_accept_input():
            self._note("warning", "not connected; message not sent", out)
            return
        if self._assistant_audible():
            self._interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
        item = self._add_item(ItemKind.USER_TEXT, now)
        item.server_id = item.local_id
        self._by_server[item.local_id] = item.local_id
        item.transcript, item.transcript_final = text, True
        item.status, item.completed_at = "completed", self.wall(now)
        self.metrics.count_turn(ItemKind.USER_TEXT)
        self._journal_item(item, out)
        out.append(cmd.Send(event=ev.ConversationItemCreate(item={
            "id": item.local_id, "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": text}]})))
        self._turn_end_at = now
        self._send_response_create(now, out)

    def _push_to_talk(self, now: float, out: Commands) -> None:
        if self.config.vad_enabled:
            self._note("info", "push-to-talk needs --turn-detection none", out)
            return
        if not self.connected or not self.lifecycle.can_accept_input():
            return
        if not self.ptt_open:
            if self._assistant_audible():
                self._interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
            out.append(cmd.Send(event=ev.InputAudioBufferClear()))
            self.sent.reset()
            self.ptt_open = True
            self._speech_start_ms = 0.0
            self._move(Trigger.SPEECH_STARTED, now, out, "push-to-talk")
            return
        self.ptt_open = False
        if self.sent.total_ms < 100:
            out.append(cmd.Send(event=ev.InputAudioBufferClear()))
            self._move(Trigger.SPEECH_STOPPED, now, out, "too short")
            self._move(Trigger.RESPONSE_FINISHED, now, out, "too short")
            self._note("info", "too short: hold the turn open for at least 0.1 s", out)
            return
        out.append(cmd.Send(event=ev.InputAudioBufferCommit(event_id=self._next_event_id("commit"))))
        self._move(Trigger.SPEECH_STOPPED, now, out, "push-to-talk released")
        self._turn_end_at = now
        self._send_response_create(now, out)

    def next_deadline(self) -> float | None:
        """The earliest monotonic time at which `Tick` may change something."""
        if not self.lifecycle.is_active():
            return None
        candidates = [d for d in self._deadlines() if d is not None]
        return min(candidates) if candidates else None

    def _deadlines(self) -> list[float | None]:
        cfg = self.config
        # Only deadlines a Tick can act on now, or the driver would spin on a past deadline:
        # idle counts in quiet states, and a deferred rollover waits for the turn's end (or the
        # last second before expiry).
        idle = (self.last_activity + cfg.idle_timeout_s
                if cfg.idle_timeout_s and self.state in QUIET_STATES else None)
        total = (self._mono0 + cfg.total_timeout_s) if cfg.total_timeout_s else None
        waiting = (self._awaiting_response_since + cfg.response_timeout_s
                   if self._awaiting_response_since is not None else None)
        stalled = (self.response.last_event_at + cfg.response_timeout_s
                   if self.response is not None else None)
        margin = 1.0 if self._rollover_wanted else self._rollover_margin
        rollover = (self._expires_deadline - margin
                    if self._expires_deadline is not None and self.connected else None)
        return [idle, total, waiting, stalled, rollover, self._created_deadline]

    def _tick(self, now: float, out: Commands) -> None:
        cfg = self.config
        if not self.lifecycle.is_active() or self.state is SessionState.CLOSING:
            return
        if self._created_deadline is not None and now >= self._created_deadline:
            self._created_deadline = None
            self.connected = False
            self._abandon_connection(now, out)
            if not self._ever_ready:
                self._fail("timed out waiting for the server's session.created", now, out)
            else:
                self._schedule_reconnect(now, "no session.created in time", out)
            return
        if cfg.total_timeout_s and now >= self._mono0 + cfg.total_timeout_s:
            self._close(now, f"time limit of {cfg.total_timeout_s:g} s reached", 0, out)
            return
        if (cfg.idle_timeout_s and self.state in QUIET_STATES
                and now >= self.last_activity + cfg.idle_timeout_s):
            self._close(now, f"idle for {cfg.idle_timeout_s:g} s", 0, out)
            return
        self._check_response_timeouts(now, out)
        self._check_expiry(now, out)

    def _check_response_timeouts(self, now: float, out: Commands) -> None:
        limit = self.config.response_timeout_s
        since = self._awaiting_response_since
        if since is not None and now >= since + limit:
            self._awaiting_response_since = None
            self.metrics.errors += 1
            self._note("warning", f"no response from the server within {limit:g} s", out)
            self._move(Trigger.RESPONSE_FINISHED, now, out, "response timeout")
            self._maybe_finish_turn(now, out)
        resp = self.response
        if resp is not None and now >= resp.last_event_at + limit:
            self.metrics.errors += 1
            self._note("warning", f"response stalled for {limit:g} s; cancelling it", out)
            out.append(cmd.Send(event=ev.ResponseCancel(response_id=resp.response_id)))
            self.response = None
            self._maybe_finish_turn(now, out)

    def snapshot(self, now: float, max_lines: int = 60) -> CoreSnapshot:
        lines: list[TranscriptLine] = []
        for item in list(self.items.values())[-max_lines:]:
            if item.kind is ItemKind.TOOL_RESULT:
                text = f"{item.output or ''}"
            elif item.kind is ItemKind.TOOL_CALL:
                text = f"{item.name}({item.arguments})"
            else:
                text = item.transcript
            heard = len(item.heard_text) if item.truncated else None
            lines.append(TranscriptLine(
                role=item.role, kind=item.kind.value, text=text, heard_chars=heard,
                interrupted=item.truncated and item.kind is ItemKind.ASSISTANT,
                streaming=item.status == "in_progress"))
        m = self.metrics
        expires_in = (self._expires_deadline - now) if self._expires_deadline else None
        return CoreSnapshot(
            session_id=self.session_id, model=self.config.model, voice=self.config.voice,
            state=self.state, connected=self.connected, connection_index=self.conn_index,
            reconnects=m.reconnects, rollovers=m.rollovers, expires_in_s=expires_in,
            elapsed_s=now - self._mono0, muted=self.muted,
            push_to_talk=not self.config.vad_enabled, ptt_open=self.ptt_open,
            transcript=tuple(lines), turns_by_kind=dict(m.turns_by_kind),
            interruptions_by_kind=dict(m.interruptions_by_kind),
            last_latency_ms=m.last_latency_ms, avg_latency_ms=m.average_latency_ms,
            time_to_ready_ms=m.time_to_ready_ms, tokens=m.tokens, errors=m.errors,
            notice_level=self.notice.level if self.notice else None,
            notice_text=self.notice.text if self.notice else None,
            assistant_turns=self._assistant_turns_done,
            user_turns=sum(1 for i in self.items.values() if i.kind in USER_ROLES),
        )
