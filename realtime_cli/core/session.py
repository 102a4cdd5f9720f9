"""`SessionCore`: the whole conversation logic of rt as one pure state machine.

Contract: feed every input to `handle(input)` and execute the returned commands in order.
Call `handle(Tick(now))` no later than `next_deadline()`. Feed a fresh `Playback` before a
server event whenever playback has moved, so barge-in truncates at what was really heard.
The core holds no sockets, threads, clocks or callbacks; it imports nothing that does I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from realtime_cli.audio.pcm import SAMPLES_PER_MS, b64encode_pcm
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.backoff import (
    FATAL_CLOSE_CODES,
    FATAL_ERROR_CODES,
    backoff_delay,
    is_retryable_close,
)
from realtime_cli.core.config import END_CONVERSATION, SessionConfig
from realtime_cli.core.conversation import (
    USER_ROLES,
    InterruptionKind,
    ItemState,
    ResponseState,
    SentAudio,
    is_stop_phrase,
    truncation_point,
)
from realtime_cli.core.history import HistoryEntry, plan_replay, resume_instructions
from realtime_cli.core.metrics import SessionMetrics
from realtime_cli.core.records import (
    ConnectionRecord,
    InterruptionRecord,
    ItemKind,
    SessionEnded,
    SessionStarted,
    SessionStatus,
    TurnRecord,
)
from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
from realtime_cli.core.states import Lifecycle, SessionState, Trigger
from realtime_cli.protocol import events as ev

Commands = list[cmd.Command]
QUIET_STATES = (SessionState.READY,)
EXIT_FATAL = 3


class SessionCore:
    def __init__(
        self,
        config: SessionConfig,
        *,
        session_id: str,
        now: float,
        history: Sequence[HistoryEntry] = (),
        next_seq: int = 0,
        resumed: bool = False,
        keep_audio: bool = True,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.session_id = session_id
        self.lifecycle = Lifecycle(now)
        self.metrics = SessionMetrics(created_at=now)
        self.keep_audio = keep_audio
        self.resumed = resumed
        self._jitter = jitter or random.Random().random
        self._mono0 = now
        self._wall0 = 0.0
        self._prior = list(history)
        self._seq = next_seq
        self._event_seq = 0
        # connection
        self.conn_index = 0
        self.connected = False
        self.server_session_id: str | None = None
        self._conn_reason = "resume" if resumed else "initial"
        self._connect_pending = False
        self._attempts = 0
        self._ever_ready = False
        self._update_event_id: str | None = None
        self._created_deadline: float | None = None
        self._expires_deadline: float | None = None
        self._rollover_margin = config.rollover_margin_s
        self._rollover_wanted = False
        # conversation
        self.items: dict[str, ItemState] = {}
        self._by_server: dict[str, str] = {}
        self.response: ResponseState | None = None
        self._turn_end_at: float | None = None
        self._awaiting_response_since: float | None = None
        self._pending_response_create = False
        self._suppress_next = False
        self._last_committed: str | None = None  # the user item the next response answers
        self._answered: str | None = None  # ... and the one the latest response answered
        self._tool_outputs: dict[str, str] = {}
        self._tools_waiting: list[str] = []
        self._handled_calls: set[str] = set()
        self._end_requested = False
        self._assistant_turns_done = 0  # responses that said something (not tool calls only)
        self._responses_done = 0
        self._stored = False  # SessionStarted journaled (on the first connection)
        # audio
        self.sent = SentAudio()
        self.muted = False
        self.ptt_open = False
        self._speech_start_ms = 0.0
        self._speech_started_at: float | None = None
        self._playing_item: str | None = None
        self._playback_idle = True
        self.last_activity = now
        self.notice: cmd.Notice | None = None
        self.rate_limits: tuple[ev.JsonObject, ...] = ()

    # ------------------------------------------------------------------ entry point

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
            case inp.Tick():
                self._tick(event.now, out)
        return out

    # ------------------------------------------------------------------ helpers

    @property
    def state(self) -> SessionState:
        return self.lifecycle.state

    @property
    def assistant_turns(self) -> int:
        return self._assistant_turns_done

    def is_quiet(self) -> bool:
        """Nobody is talking and nothing is expected: a safe moment to stop or roll over."""
        return (self.state in QUIET_STATES and self.response is None and self._playback_idle
                and not self.ptt_open and self._awaiting_response_since is None
                and not self._tools_waiting)

    def wall(self, now: float) -> float:
        return self._wall0 + (now - self._mono0)

    def _move(self, trigger: Trigger, now: float, out: Commands, reason: str = "") -> bool:
        """Apply a transition the peer or the clock caused, if legal in this state."""
        if not self.lifecycle.can(trigger):
            return False
        change = self.lifecycle.apply(trigger, now)
        if change.old is not change.new:
            out.append(cmd.StatusChanged(old=change.old, new=change.new, reason=reason or trigger))
        return True

    def _note(self, level: str, text: str, out: Commands) -> None:
        self.notice = cmd.Notice(level=level, text=text)
        out.append(self.notice)

    def _next_event_id(self, kind: str) -> str:
        self._event_seq += 1
        return f"rt_{kind}_{self._event_seq}"

    def _new_local_id(self) -> str:
        self._seq += 1
        return f"rt{self.session_id[:8]}_{self._seq:05d}"

    def _journal_item(self, item: ItemState, out: Commands) -> None:
        out.append(cmd.Journal(record=item.record(self.session_id, with_audio=self.keep_audio)))

    def _item_by_server(self, server_id: str) -> ItemState | None:
        local = self._by_server.get(server_id)
        return self.items.get(local) if local else None

    def _add_item(self, kind: ItemKind, now: float, server_id: str | None = None,
                  local_id: str | None = None) -> ItemState:
        local = local_id or self._new_local_id()
        item = ItemState(local_id=local, seq=self._seq, kind=kind, created_at=self.wall(now),
                         server_id=server_id)
        self.items[local] = item
        if server_id:
            self._by_server[server_id] = local
        return item

    def history(self) -> list[HistoryEntry]:
        return self._prior + [i.history_entry() for i in self.items.values()]

    # ------------------------------------------------------------------ connection

    def _begin(self, event: inp.Begin, out: Commands) -> None:
        self._wall0 = event.wall
        self._mono0 = event.now
        self.metrics.created_at = event.now
        self._connect_pending = True
        out.append(cmd.Connect(delay_s=0.0, reason=self._conn_reason))

    def _opened(self, now: float, out: Commands) -> None:
        self._connect_pending = False
        self.connected = True
        self.conn_index += 1
        self.metrics.connected_at = self.metrics.connected_at or now
        self.sent.reset()
        self._created_deadline = now + self.config.connection_timeout_s
        if not self._stored:
            # Stored from the first connection on: a run that never reached a server (bad URL,
            # refused, bad key) leaves no empty session behind.
            self._stored = True
            out.append(cmd.Journal(record=SessionStarted(
                session_id=self.session_id, created_at=self._wall0, model=self.config.model,
                voice=self.config.voice, instructions=self.config.instructions,
                config=self.config.to_dict(), resumed=self.resumed)))
        self._move(Trigger.OPENED, now, out, "connected")
        out.append(cmd.Journal(record=ConnectionRecord(
            session_id=self.session_id, index=self.conn_index, reason=self._conn_reason,
            opened_at=self.wall(now))))

    def _connect_failed(self, event: inp.ConnectFailed, out: Commands) -> None:
        self._connect_pending = False
        if event.fatal or not self._ever_ready:
            self._fail(event.message, event.now, out)
            return
        self._schedule_reconnect(event.now, event.message, out)

    def _schedule_reconnect(self, now: float, why: str, out: Commands) -> None:
        self._attempts += 1
        if self._attempts > self.config.max_reconnect_attempts:
            self._fail(f"connection lost and {self._attempts - 1} reconnect attempts failed: {why}",
                       now, out)
            return
        delay = backoff_delay(self._attempts, self._jitter())
        self._note("warning", f"connection lost ({why}); reconnecting in {delay:.1f} s", out)
        self._conn_reason = "reconnect"
        self.metrics.reconnects += 1
        self._connect_pending = True
        out.append(cmd.Connect(delay_s=delay, reason="reconnect", attempt=self._attempts))

    def _closed(self, event: inp.Closed, out: Commands) -> None:
        if not self.connected:
            return
        self.connected = False
        self._created_deadline = None
        out.append(cmd.Journal(record=ConnectionRecord(
            session_id=self.session_id, index=self.conn_index, reason=self._conn_reason,
            opened_at=0.0, closed_at=self.wall(event.now), close_code=event.code,
            close_reason=event.reason or None)))
        if self.state in (SessionState.CLOSING, SessionState.CLOSED, SessionState.ERROR):
            return
        what = f"close {event.code}" if event.code is not None else "dropped"
        if event.reason:
            what += f": {event.reason}"
        self._abandon_connection(event.now, out)
        if event.code in FATAL_CLOSE_CODES:
            self._fail(f"server closed the connection ({what})", event.now, out)
        elif self._rollover_wanted or is_retryable_close(event.code):
            if self._rollover_wanted:
                self._start_rollover(event.now, out)
            else:
                self._schedule_reconnect(event.now, what, out)
        else:
            self._fail(f"server closed the connection ({what})", event.now, out)

    def _abandon_connection(self, now: float, out: Commands) -> None:
        """The server session is gone: settle the response in flight as far as it was heard."""
        self._move(Trigger.DISCONNECTED, now, out, "connection lost")
        self.ptt_open = False
        resp = self.response
        if resp is not None:
            for local in resp.item_ids:
                item = self.items[local]
                if item.kind is ItemKind.ASSISTANT and not item.audio_done:
                    item.truncated = True
                    item.audio_end_ms = int(item.received_ms)
                    item.status = "incomplete"
                    item.completed_at = self.wall(now)
                    self._journal_item(item, out)
            self.response = None
        self._awaiting_response_since = None

    def _start_rollover(self, now: float, out: Commands) -> None:
        self._rollover_wanted = False
        self._expires_deadline = None
        self.metrics.rollovers += 1
        if self.connected:
            self.connected = False
            out.append(cmd.Journal(record=ConnectionRecord(
                session_id=self.session_id, index=self.conn_index, reason=self._conn_reason,
                opened_at=0.0, closed_at=self.wall(now), close_code=1000,
                close_reason="rollover")))
            self._abandon_connection(now, out)
        self._conn_reason = "rollover"
        self._connect_pending = True
        self._note("info", "session rolling over to a new connection", out)
        out.append(cmd.Connect(delay_s=0.0, reason="rollover"))

    def _fail(self, message: str, now: float, out: Commands) -> None:
        self._note("error", message, out)
        self.metrics.errors += 1
        self._move(Trigger.FAIL, now, out, message)
        self._finish(now, SessionStatus.ENDED, message, EXIT_FATAL, out)

    def _finish(self, now: float, status: SessionStatus, reason: str, code: int,
                out: Commands) -> None:
        for item in self.items.values():
            if item.kind is not ItemKind.ASSISTANT or item.flushed:
                continue
            still_playing = not self._playback_idle and item.played_samples < item.received_samples
            if item.status == "in_progress" or still_playing:
                self._settle_heard(item, now)
                self._journal_item(item, out)
        self.metrics.closed_at = now
        if self.connected:
            out.append(cmd.Journal(record=ConnectionRecord(
                session_id=self.session_id, index=self.conn_index, reason=self._conn_reason,
                opened_at=0.0, closed_at=self.wall(now), close_code=1000, close_reason=reason)))
        if self._stored:
            out.append(cmd.Journal(record=SessionEnded(
                session_id=self.session_id, ended_at=self.wall(now), status=status,
                reason=reason)))
        self._move(Trigger.CLOSED, now, out, reason)
        out.append(cmd.Shutdown(exit_code=code, reason=reason))

    def _settle_heard(self, item: ItemState, now: float) -> None:
        """An answer cut short by the end of the session: keep what was played, mark the rest."""
        heard = min(item.played_samples, item.received_samples)
        if heard < item.received_samples or not item.audio_done:
            item.truncated = True
            item.audio_end_ms = heard // SAMPLES_PER_MS
        if item.status == "in_progress":
            item.status = "incomplete"
        item.completed_at = item.completed_at or self.wall(now)

    def close(self, now: float, reason: str, exit_code: int = 0) -> Commands:
        out: Commands = []
        self._close(now, reason, exit_code, out)
        return out

    def _close(self, now: float, reason: str, exit_code: int, out: Commands) -> None:
        if not self._move(Trigger.CLOSE, now, out, reason):
            return
        out.append(cmd.FlushPlayback())
        self._finish(now, SessionStatus.ENDED, reason, exit_code, out)

    # ------------------------------------------------------------------ server events

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

    def _session_created(self, e: ev.SessionCreated, now: float, out: Commands) -> None:
        if not self._move(Trigger.SESSION_CREATED, now, out, "session created"):
            return
        self._created_deadline = None
        self.server_session_id = e.session_id
        if e.expires_at is not None:
            length = e.expires_at - self.wall(now)
            # Roll over `rollover_margin_s` early, but never in the first half of a session: a
            # session shorter than twice the margin (`rt serve --expire-after 5`) would
            # otherwise roll over as soon as it is ready, again and again. An expiry already
            # past (clock skew) is left to the server's session_expired.
            self._expires_deadline = now + length if length > 0 else None
            self._rollover_margin = min(self.config.rollover_margin_s, max(0.0, length) / 2)
        out.append(cmd.Journal(record=ConnectionRecord(
            session_id=self.session_id, index=self.conn_index, reason=self._conn_reason,
            opened_at=self.wall(now), server_session_id=e.session_id, expires_at=e.expires_at)))
        history = self.history()
        instructions = None
        if history:
            _, summary = plan_replay(history, self.config.replay_max_turns)
            instructions = resume_instructions(self.config.instructions, summary)
        self._update_event_id = self._next_event_id("cfg")
        out.append(cmd.Send(event=ev.SessionUpdate(
            session=self.config.session_payload(instructions), event_id=self._update_event_id)))

    def _session_updated(self, now: float, out: Commands) -> None:
        if self.state is not SessionState.CONFIGURING:
            return
        items, _ = plan_replay(self.history(), self.config.replay_max_turns)
        for item in items:
            out.append(cmd.Send(event=ev.ConversationItemCreate(item=item)))
        self._update_event_id = None
        self._attempts = 0
        self._ever_ready = True
        if self.metrics.ready_at is None:
            self.metrics.ready_at = now
        self._move(Trigger.CONFIGURED, now, out, "ready")
        self.last_activity = now
        if self._tools_waiting and self._all_tools_answered():
            self._send_tool_outputs(out)

    def _server_error(self, e: ev.ServerError, now: float, out: Commands) -> None:
        code = e.code or ""
        if code == "session_expired":
            self._note("info", "server session expired; rolling over", out)
            self._start_rollover(now, out)
            return
        refused_config = self._update_event_id is not None and (
            e.client_event_id == self._update_event_id
            or (self.state is SessionState.CONFIGURING and (e.param or "").startswith("session"))
        )
        if code in FATAL_ERROR_CODES or refused_config:
            what = "the server refused the session configuration" if refused_config else "fatal"
            self._fail(f"{what}: {e.message} ({code or e.type})", now, out)
            return
        if code == "response_cancel_not_active":
            return
        if code == "conversation_already_has_active_response":
            self._pending_response_create = True
            return
        self.metrics.errors += 1
        self._note("warning", f"server error: {e.message} ({code or e.type})", out)

    # ------------------------------------------------------------------ user speech

    def _speech_started(self, e: ev.SpeechStarted, now: float, out: Commands) -> None:
        self.last_activity = now
        self._speech_start_ms = e.audio_start_ms
        self._speech_started_at = now
        if self._assistant_audible():
            self._interrupt(InterruptionKind.SPEECH_OVERLAP, now, out)
        self._move(Trigger.SPEECH_STARTED, now, out, "user speaking")

    def _speech_stopped(self, e: ev.SpeechStopped, now: float, out: Commands) -> None:
        self.last_activity = now
        self._turn_end_at = now
        self._move(Trigger.SPEECH_STOPPED, now, out, "user stopped")
        if self.config.create_response and self.response is None:
            self._awaiting_response_since = now

    def _committed(self, e: ev.InputAudioBufferCommitted, now: float, out: Commands) -> None:
        if self._item_by_server(e.item_id) is not None:
            return
        item = self._add_item(ItemKind.USER_AUDIO, now, server_id=e.item_id)
        self._last_committed = item.local_id
        end_ms = self.sent.total_ms
        start_ms = min(self._speech_start_ms, end_ms)
        item.duration_ms = end_ms - start_ms
        if self.keep_audio:
            item.audio = bytearray(self.sent.slice(start_ms, end_ms))
        item.status = "completed"
        item.completed_at = self.wall(now)
        self.metrics.count_turn(ItemKind.USER_AUDIO)
        self._journal_item(item, out)

    def _user_transcript(self, e: ev.InputTranscriptionCompleted, now: float,
                         out: Commands) -> None:
        item = self._item_by_server(e.item_id)
        if item is None:
            return
        item.transcript, item.transcript_final = e.transcript, True
        self._journal_item(item, out)
        if not is_stop_phrase(e.transcript, self.config.stop_phrases):
            return
        if any(i.seq > item.seq for i in self.items.values() if i.kind in USER_ROLES):
            return  # the user has said something since: that newer turn is what counts now
        if self.response is not None and not self.response.suppressed:
            self._interrupt(InterruptionKind.CANCEL_REQUEST, now, out, user_text=e.transcript)
        elif self._assistant_audible():
            self._interrupt(InterruptionKind.CANCEL_REQUEST, now, out, user_text=e.transcript)
        elif (self.config.create_response and self.config.vad_enabled
              and self._answered != item.local_id):  # its answer may have come already (§5)
            self._suppress_next = True  # the answer to "stop" is silence

    # ------------------------------------------------------------------ responses

    def _response_created(self, e: ev.ResponseCreated, now: float, out: Commands) -> None:
        self._awaiting_response_since = None
        self.response = ResponseState(response_id=e.response_id, started_at=now,
                                      turn_end_at=self._turn_end_at, last_event_at=now)
        self._turn_end_at = None
        self._answered = self._last_committed
        if self._suppress_next:
            self._suppress_next = False
            self.response.suppressed = True
            out.append(cmd.Send(event=ev.ResponseCancel(response_id=e.response_id)))
            return
        self._move(Trigger.RESPONSE_STARTED, now, out, "assistant responding")

    def _output_item(self, response_id: str, raw: ev.Item, now: float, out: Commands,
                     *, done: bool) -> None:
        item = self._item_by_server(raw.id)
        if item is None:
            kind = ItemKind.TOOL_CALL if raw.type == "function_call" else ItemKind.ASSISTANT
            if raw.type not in ("message", "function_call"):
                return
            item = self._add_item(kind, now, server_id=raw.id)
            item.response_id = response_id
            item.call_id, item.name = raw.call_id, raw.name
            if self.response is not None and self.response.response_id == response_id:
                self.response.item_ids.append(item.local_id)
        if not done:
            return
        if item.kind is ItemKind.TOOL_CALL:
            self._function_call(raw.call_id or "", raw.id, raw.name or "", raw.arguments or "",
                                now, out)
            return
        if not item.transcript_final and raw.text():
            item.transcript, item.transcript_final = raw.text(), True
        item.status = raw.status or "completed"
        item.completed_at = self.wall(now)
        self._journal_item(item, out)

    def _audio_delta(self, e: ev.OutputAudioDelta, now: float, out: Commands) -> None:
        resp = self.response
        item = self._item_by_server(e.item_id)
        if item is None:
            item = self._add_item(ItemKind.ASSISTANT, now, server_id=e.item_id)
            item.response_id = e.response_id
            if resp is not None:
                resp.item_ids.append(item.local_id)
        if item.flushed or (resp is not None and resp.suppressed):
            return
        item.audio += e.pcm
        ms = len(e.pcm) / 2 / SAMPLES_PER_MS
        self.metrics.audio_ms_received += ms
        if resp is not None and resp.first_audio_at is None:
            resp.first_audio_at = now
            if resp.latency_ms is not None:
                self.metrics.latencies_ms.append(resp.latency_ms)
        self._playback_idle = False
        out.append(cmd.Play(item_id=e.item_id, pcm=e.pcm))

    def _truncated(self, e: ev.ConversationItemTruncated, now: float, out: Commands) -> None:
        item = self._item_by_server(e.item_id)
        if item is None:
            return
        item.truncated = True
        item.audio_end_ms = e.audio_end_ms  # the server's word is final (§3)
        self._journal_item(item, out)

    def _response_done(self, e: ev.ResponseDone, now: float, out: Commands) -> None:
        resp = self.response
        if resp is None or resp.response_id != e.response_id:
            return
        self.response = None
        self.last_activity = now
        usage = e.usage or ev.Usage()
        self.metrics.tokens = self.metrics.tokens + usage
        for local in resp.item_ids:
            item = self.items[local]
            if item.kind is ItemKind.ASSISTANT:
                if item.status == "in_progress":
                    item.status = "completed" if e.status == "completed" else "incomplete"
                item.audio_done = True
                item.completed_at = item.completed_at or self.wall(now)
                self._journal_item(item, out)
        if not resp.suppressed:
            if any(self.items[local].kind is ItemKind.ASSISTANT for local in resp.item_ids):
                self.metrics.count_turn(ItemKind.ASSISTANT)
                self._assistant_turns_done += 1
            self._responses_done += 1
            out.append(cmd.Journal(record=TurnRecord(
                session_id=self.session_id, response_id=resp.response_id,
                turn_index=self._responses_done, status=e.status,
                started_at=self.wall(resp.started_at), duration_ms=(now - resp.started_at) * 1e3,
                latency_ms=resp.latency_ms, input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens, cached_tokens=usage.cached_tokens,
                input_text_tokens=usage.input_text_tokens,
                input_audio_tokens=usage.input_audio_tokens,
                output_text_tokens=usage.output_text_tokens,
                output_audio_tokens=usage.output_audio_tokens, interrupted=resp.interrupted,
                cached_text_tokens=usage.cached_text_tokens,
                cached_audio_tokens=usage.cached_audio_tokens)))
        if self._tools_waiting and self._all_tools_answered():
            self._send_tool_outputs(out)
        elif self._pending_response_create:
            self._pending_response_create = False
            self._send_response_create(now, out)
        self._maybe_finish_turn(now, out)

    def _maybe_finish_turn(self, now: float, out: Commands) -> None:
        """RESPONDING ends once the response is done and its audio has been heard."""
        if self.response is not None or not self._playback_idle:
            return
        self._move(Trigger.RESPONSE_FINISHED, now, out, "turn finished")
        goodbye_due = self._awaiting_response_since is not None or self._pending_response_create
        if self._end_requested and not self._tools_waiting and not goodbye_due:
            self._close(now, "conversation ended by the assistant", 0, out)
        if self._rollover_wanted and self.lifecycle.can_accept_input():
            self._check_expiry(now, out)  # the deferred rollover, now that the turn is over

    def _send_response_create(self, now: float, out: Commands) -> None:
        if self.response is not None:
            self._pending_response_create = True
            return
        self._awaiting_response_since = now
        out.append(cmd.Send(event=ev.ResponseCreate(event_id=self._next_event_id("resp"))))

    # ------------------------------------------------------------------ barge-in

    def _assistant_audible(self) -> bool:
        """The user can hear the assistant now, or is about to (a response is streaming)."""
        if self.response is not None and not self.response.suppressed:
            return True
        return not self._playback_idle

    def _interrupt(self, kind: InterruptionKind, now: float, out: Commands,
                   user_text: str | None = None) -> None:
        """Stop the voice at once; cancel where the server will not; truncate at what was heard."""
        self._move(Trigger.INTERRUPT, now, out, f"interrupted ({kind.value})")
        out.append(cmd.FlushPlayback())
        resp = self.response
        server_cancels = (kind is InterruptionKind.SPEECH_OVERLAP and self.config.vad_enabled
                          and self.config.interrupt_response)
        if resp is not None:
            resp.interrupted = True
            if not server_cancels:
                out.append(cmd.Send(event=ev.ResponseCancel(response_id=resp.response_id)))
        target: ItemState | None = None
        for item in self.items.values():
            if item.kind is not ItemKind.ASSISTANT or item.flushed:
                continue
            if item.audio_done and item.played_samples >= item.received_samples:
                continue  # fully heard already
            item.flushed = True
            point = truncation_point(item.played_samples, item.received_samples)
            if point is None and item.played_samples > 0 and not item.audio_done:
                point = item.received_samples // SAMPLES_PER_MS  # more was due: the rest unheard
            item.truncated = True
            item.audio_end_ms = point if point is not None else (
                0 if item.played_samples <= 0 else int(item.received_ms))
            if point is not None and item.server_id:
                out.append(cmd.Send(event=ev.ConversationItemTruncate(
                    item_id=item.server_id, content_index=0, audio_end_ms=point,
                    event_id=self._next_event_id("trunc"))))
            if target is None or item.played_samples > 0:
                target = item
            self._journal_item(item, out)
        self._playback_idle = True
        self._playing_item = None
        self.metrics.count_interruption(kind.value)
        position = target.audio_end_ms or 0 if target else 0
        out.append(cmd.Journal(record=InterruptionRecord(
            session_id=self.session_id, item_local_id=target.local_id if target else "",
            kind=kind.value, at=self.wall(now), position_ms=position,
            heard_chars=len(target.heard_text) if target else 0, user_text=user_text)))
        if self.response is None:
            self._move(Trigger.RESPONSE_FINISHED, now, out, "interrupted")

    # ------------------------------------------------------------------ tools

    def _function_call(self, call_id: str, server_item_id: str, name: str, arguments: str,
                       now: float, out: Commands) -> None:
        if not call_id or call_id in self._handled_calls:
            return  # each call is answered once (§7)
        self._handled_calls.add(call_id)
        item = self._item_by_server(server_item_id)
        if item is None:
            item = self._add_item(ItemKind.TOOL_CALL, now, server_id=server_item_id)
        item.call_id, item.name, item.arguments = call_id, name, arguments
        item.status, item.completed_at = "completed", self.wall(now)
        self.metrics.count_turn(ItemKind.TOOL_CALL)
        self._journal_item(item, out)
        self._tools_waiting.append(call_id)
        if name == END_CONVERSATION.name and self.config.builtin_end_tool:
            self._end_requested = True
            self._tool_result(call_id, '{"ok": true, "note": "say goodbye briefly"}', now, out)
            return
        self._note("info", f"tool call: {name}({arguments})", out)
        out.append(cmd.RunTool(call_id=call_id, name=name, arguments=arguments))

    def _tool_output(self, event: inp.ToolOutput, out: Commands) -> None:
        if event.call_id not in self._tools_waiting or event.call_id in self._tool_outputs:
            return
        self._tool_result(event.call_id, event.output, event.now, out)

    def _tool_result(self, call_id: str, output: str, now: float, out: Commands) -> None:
        self._tool_outputs[call_id] = output
        item = self._add_item(ItemKind.TOOL_RESULT, now)
        item.call_id, item.output = call_id, output
        item.status, item.completed_at = "completed", self.wall(now)
        self.metrics.count_turn(ItemKind.TOOL_RESULT)
        self._journal_item(item, out)
        if self.response is None and self._all_tools_answered() and self.connected \
                and self.lifecycle.can_accept_input():
            self._send_tool_outputs(out)

    def _all_tools_answered(self) -> bool:
        return all(c in self._tool_outputs for c in self._tools_waiting)

    def _send_tool_outputs(self, out: Commands) -> None:
        """Results go back only after `response.done`, then one `response.create` (§7)."""
        for call_id in self._tools_waiting:
            item = next(i for i in self.items.values()
                        if i.kind is ItemKind.TOOL_RESULT and i.call_id == call_id)
            out.append(cmd.Send(event=ev.ConversationItemCreate(item={
                "id": item.local_id, "type": "function_call_output", "call_id": call_id,
                "output": self._tool_outputs[call_id]})))
        self._tools_waiting.clear()
        self._tool_outputs.clear()
        self._send_response_create(self.lifecycle.entered_at, out)

    # ------------------------------------------------------------------ audio in/out

    def _mic(self, event: inp.MicAudio, out: Commands) -> None:
        if not self.connected or not self.lifecycle.can_accept_input():
            return
        if not self.config.vad_enabled and not self.ptt_open:
            return
        quiet = self.muted or (self.config.half_duplex and self._assistant_audible())
        pcm = bytes(len(event.pcm)) if quiet else event.pcm
        self.metrics.audio_ms_sent += self.sent.append(pcm)
        out.append(cmd.Send(event=ev.InputAudioBufferAppend(audio=b64encode_pcm(pcm))))

    def _playback(self, event: inp.Playback, out: Commands) -> None:
        if event.item_id is not None:
            item = self._item_by_server(event.item_id)
            if item is not None and not item.flushed:
                if self._playing_item and self._playing_item != item.local_id:
                    prev = self.items[self._playing_item]
                    prev.played_samples = prev.received_samples
                self._playing_item = item.local_id
                item.played_samples = max(item.played_samples,
                                          min(event.played_samples, item.received_samples))
        was_idle = self._playback_idle
        self._playback_idle = event.idle
        if event.idle and not was_idle:
            for item in self.items.values():
                if item.kind is ItemKind.ASSISTANT and not item.flushed and item.audio_done:
                    item.played_samples = item.received_samples
            self.last_activity = event.now
            self._maybe_finish_turn(event.now, out)

    # ------------------------------------------------------------------ user commands

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

    # ------------------------------------------------------------------ time

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

    def _check_expiry(self, now: float, out: Commands) -> None:
        if self._expires_deadline is None or not self.connected:
            return
        if now >= self._expires_deadline - self._rollover_margin:
            if self.is_quiet() or now >= self._expires_deadline - 1.0:
                self._start_rollover(now, out)
            else:
                self._rollover_wanted = True

    # ------------------------------------------------------------------ views

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
