"""`SessionCore`: the whole conversation logic of rt as one pure state machine.

Contract: feed every input to `handle(input)` and execute the returned commands in order.
Call `handle(Tick(now))` no later than `next_deadline()`. Feed a fresh `Playback` before a
server event whenever playback has moved, so barge-in truncates at what was really heard.
The core holds no sockets, threads, clocks or callbacks, and imports nothing that does I/O.

It is composed of parts that each own their fields: `Context` (settings, lifecycle, metrics,
ids, time anchor), `Link` (the connection and its timers) and `Turns` (items with their audio
ledger, the response in flight, tool calls, the microphone). This class dispatches inputs,
mediates where the connection and the conversation meet (configure, replay, reconnect,
roll over, end), takes user commands and keeps time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, assert_never

from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.backoff import FATAL_CLOSE_CODES, FATAL_ERROR_CODES, is_retryable_close
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.context import Context, Outbox
from realtime_cli.core.history import HistoryEntry, plan_replay, resume_instructions
from realtime_cli.core.items import USER_ROLES, InterruptionKind
from realtime_cli.core.link import Link
from realtime_cli.core.metrics import SessionMetrics
from realtime_cli.core.records import (
    ItemKind,
    SessionEnded,
    SessionFigures,
    SessionStarted,
    SessionStatus,
)
from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
from realtime_cli.core.states import Cause, Lifecycle, SessionState, Trigger
from realtime_cli.core.turns import Turns
from realtime_cli.protocol import events as ev
from realtime_cli.protocol.audio_format import SAMPLES_PER_MS

__all__ = ["EXIT_FATAL", "SessionCore"]

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
        prior: SessionFigures | None = None,
        client: Mapping[str, Any] | None = None,
        connections_before: int = 0,
    ) -> None:
        """`jitter` spreads reconnect delays; by default a generator seeded by the session id,
        so a run is reproducible and the core never reads the OS's randomness. `prior`: the
        figures a resumed session's earlier runs stored, counted on from. `client`: settings of
        the client itself (echo mode, tool commands) journaled with the session's, so a resume
        restores them too."""
        self.ctx = Context(config, session_id=session_id, now=now, next_seq=next_seq,
                           keep_audio=keep_audio)
        self.link = Link(session_id, resumed=resumed,
                         max_attempts=config.max_reconnect_attempts,
                         rollover_margin_s=config.rollover_margin_s,
                         jitter=jitter or random.Random(session_id).random)
        self.link.index = connections_before  # a resumed session numbers its connections on
        self.turns = Turns(self.ctx)
        if prior is not None:
            self.ctx.metrics.go_on_from(prior)
        self.resumed = resumed
        self._client = dict(client or {})
        self._prior = list(history)
        self._stored = False  # SessionStarted journaled (on the first connection)
        self.notice: cmd.Notice | None = None
        self._now = now  # of the latest input: deadlines ahead of it are the ones that count
        self.rate_limits: tuple[ev.JsonObject, ...] = ()

    # ------------------------------------------------------------------ read-only views

    @property
    def config(self) -> SessionConfig:
        return self.ctx.config

    @property
    def session_id(self) -> str:
        return self.ctx.session_id

    @property
    def lifecycle(self) -> Lifecycle:
        return self.ctx.lifecycle

    @property
    def state(self) -> SessionState:
        return self.ctx.lifecycle.state

    @property
    def metrics(self) -> SessionMetrics:
        return self.ctx.metrics

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def assistant_turns(self) -> int:
        return self.turns.assistant_turns

    def is_quiet(self) -> bool:
        """Nobody is talking and nothing is expected: a safe moment to stop or roll over."""
        return self.state in QUIET_STATES and self.turns.quiet()

    def history(self) -> list[HistoryEntry]:
        return self._prior + [i.history_entry() for i in self.turns.ledger.values()]

    # ------------------------------------------------------------------ dispatch

    def handle(self, event: inp.Input) -> Commands:
        self._now = event.now
        out = Outbox()
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
                if self.link.connected and self.lifecycle.can_accept_input():
                    self.turns.mic(event.pcm, out)
            case inp.Playback():
                if self.turns.playback(event.item_id, event.played_samples, event.idle,
                                       event.now, out):
                    self.metrics.last_activity = event.now
            case inp.UserCommand():
                self._user(event, out)
            case inp.ToolOutput():
                self.turns.tool_result(event.call_id, event.output, event.now, out,
                                       can_send=self._can_talk())
            case inp.StorageTrouble():
                out.note("warning", f"could not save to the journal ({event.problem}); the "
                                    "conversation goes on")
            case inp.Tick():
                self._tick(event.now, out)
            case _:
                assert_never(event)
        if self.turns.turn_over:
            self.turns.turn_over = False
            self._after_turn(event.now, out)
        for c in reversed(out.commands):
            if isinstance(c, cmd.Notice):
                self.notice = c
                break
        return out.commands

    def _server(self, e: ev.ServerEvent, now: float, out: Outbox) -> None:
        turns = self.turns
        resp = turns.flight.response
        if resp is not None:
            resp.last_event_at = now
        match e:
            case ev.SessionCreated():
                self._session_created(e, now, out)
            case ev.SessionUpdated():
                self._session_updated(e.resumed, now, out)
            case ev.SessionExpiring():
                self.link.ending(e.seconds_left, now)
                self._check_expiry(now, out)
            case ev.SessionResumable():
                self.link.resume_handle = e.handle
            case ev.ServerError():
                self._server_error(e, now, out)
            case ev.SpeechStarted():
                self.metrics.last_activity = now
                turns.speech_started(e, now, out)
            case ev.SpeechStopped():
                self.metrics.last_activity = now
                turns.speech_stopped(now, out)
            case ev.InputAudioBufferCommitted():
                turns.committed(e, now, out)
            case ev.InputAudioTimeoutTriggered():
                turns.speech_start_ms = e.audio_start_ms
            case ev.InputTranscriptionDelta():
                item = turns.ledger.by_server(e.item_id)
                if item is not None:
                    item.transcript += e.delta
            case ev.InputTranscriptionCompleted():
                turns.user_transcript(e, now, out)
            case ev.InputTranscriptionFailed():
                out.note("warning", f"transcription failed: {e.message}")
            case ev.ResponseCreated():
                turns.response_created(e, now, out)
            case ev.OutputItemAdded():
                turns.output_item(e.response_id, e.item, now, out, done=False)
            case ev.OutputItemDone():
                turns.output_item(e.response_id, e.item, now, out, done=True)
            case ev.OutputAudioDelta():
                turns.audio_delta(e, now, out)
            case ev.OutputAudioDone():
                turns.audio_done(e.item_id, out)
            case ev.OutputTranscriptDelta():
                item = turns.ledger.by_server(e.item_id)
                if item is not None and not item.transcript_final:
                    item.transcript += e.delta
            case ev.OutputTranscriptDone():
                item = turns.ledger.by_server(e.item_id)
                if item is not None:
                    item.transcript, item.transcript_final = e.transcript, True
            case ev.FunctionCallArgumentsDelta():
                item = turns.ledger.by_server(e.item_id)
                if item is not None:
                    item.arguments += e.delta
            case ev.FunctionCallArgumentsDone():
                turns.function_call(e.call_id, e.item_id, e.name, e.arguments, now, out)
            case ev.ToolCallsCancelled():
                turns.calls_cancelled(e.call_ids, now, out, can_send=self._can_talk())
            case ev.ConversationItemTruncated():
                turns.truncated(e, out)
            case ev.ResponseDone():
                self.metrics.last_activity = now
                turns.response_done(e, now, out)
                if self.link.rollover_wanted:
                    self._check_expiry(now, out)  # the server may be quiet enough now
                failure = e.failure()
                if failure is None:
                    pass
                elif e.error is not None and e.error.code in FATAL_ERROR_CODES:
                    self._fail(failure, now, out)
                else:
                    self.metrics.errors += 1
                    out.note("warning", failure)
            case ev.RateLimitsUpdated():
                self.rate_limits = e.rate_limits
            case ev.MalformedServerEvent():
                self.metrics.protocol_violations += 1
                out.note("warning", f"ignored a malformed server event ({e.reason})")
            case ev.UnknownServerEvent():
                self.metrics.unknown_events += 1
            case (ev.ConversationItemAdded() | ev.ConversationItemDone()
                  | ev.ConversationItemDeleted() | ev.InputAudioBufferCleared()
                  | ev.ContentPartAdded() | ev.ContentPartDone()):
                pass  # nothing rt needs: the response and input events carry the same facts
            case _:
                assert_never(e)

    def _can_talk(self) -> bool:
        return self.link.connected and self.lifecycle.can_accept_input()

    # ------------------------------------------------------------------ connection

    def _begin(self, event: inp.Begin, out: Outbox) -> None:
        self.ctx.anchor(event.now, event.wall)
        self.link.connect_pending = True
        out.add(cmd.Connect(delay_s=0.0, reason=self.link.reason))

    def _opened(self, now: float, out: Outbox) -> None:
        link = self.link
        link.opened(now, self.ctx.wall(now), self.config.connection_timeout_s)
        self.ctx.connection = link.index
        self.metrics.connected_at = self.metrics.connected_at or now
        self.turns.sent.reset()
        if not self._stored:
            # Stored from the first connection on: a run that never reached a server (bad URL,
            # refused, bad key) leaves no empty session behind.
            self._stored = True
            cfg = self.config
            out.journal(SessionStarted(
                session_id=self.session_id, created_at=self.ctx.wall0, model=cfg.model,
                voice=cfg.voice, instructions=cfg.instructions,
                config={**cfg.to_dict(), **({"client": self._client} if self._client else {})},
                resumed=self.resumed))
        self.ctx.move(Trigger.OPENED, now, out, "connected")
        out.journal(link.record())

    def _connect_failed(self, event: inp.ConnectFailed, out: Outbox) -> None:
        self.link.connect_pending = False
        if event.fatal or not self.link.ever_ready:
            self._fail(event.message, event.now, out)
            return
        self._schedule_reconnect(event.now, event.message, out)

    def _schedule_reconnect(self, now: float, why: str, out: Outbox, *,
                            resume_refused: bool = False) -> None:
        """`resume_refused`: the connection offered a resumption handle and ended before the
        server took it up (Gemini refuses a stale handle so, docs/protocol.md#gemini-live); the
        handle is already dropped, and the next connection replays the conversation."""
        delay = self.link.next_backoff()
        if delay is None:
            tries = self.link.attempts - 1
            self._fail(f"connection lost and {tries} reconnect attempts failed: {why}", now, out)
            return
        if resume_refused:
            out.note("warning", f"the server did not resume the session ({why}); reconnecting "
                                f"in {delay:.1f} s to a new one, the conversation replayed")
        else:
            out.note("warning", f"connection lost ({why}); reconnecting in {delay:.1f} s")
        self.link.connecting("reconnect")
        self.metrics.reconnects += 1
        out.add(cmd.Connect(delay_s=delay, reason="reconnect", attempt=self.link.attempts))

    def _closed(self, event: inp.Closed, out: Outbox) -> None:
        link = self.link
        if not link.connected:
            return
        link.lost()
        out.journal(link.record(closed_at=self.ctx.wall(event.now), close_code=event.code,
                                close_reason=event.reason or None))
        if self.state in (SessionState.CLOSING, SessionState.CLOSED, SessionState.ERROR):
            return
        what = f"close {event.code}" if event.code is not None else "dropped"
        if event.reason:
            what += f": {event.reason}"
        self._abandon_connection(event.now, out)
        if link.resume_failed():
            self._schedule_reconnect(event.now, what, out, resume_refused=True)
        elif event.code in FATAL_CLOSE_CODES:
            self._fail(f"server closed the connection ({what})", event.now, out)
        elif link.rollover_wanted:
            self._start_rollover(event.now, out)
        elif is_retryable_close(event.code):
            self._schedule_reconnect(event.now, what, out)
        else:
            self._fail(f"server closed the connection ({what})", event.now, out)

    def _abandon_connection(self, now: float, out: Outbox) -> None:
        self.ctx.move(Trigger.DISCONNECTED, now, out, "connection lost")
        self.turns.abandon(now, out)

    def _start_rollover(self, now: float, out: Outbox) -> None:
        link = self.link
        link.rolling_over()
        self.metrics.rollovers += 1
        if link.connected:
            link.lost()
            out.journal(link.record(closed_at=self.ctx.wall(now), close_code=1000,
                                    close_reason="rollover"))
            self._abandon_connection(now, out)
        link.connecting("rollover")
        out.note("info", "session rolling over to a new connection")
        out.add(cmd.Connect(delay_s=0.0, reason="rollover"))

    def _session_created(self, e: ev.SessionCreated, now: float, out: Outbox) -> None:
        if not self.ctx.move(Trigger.SESSION_CREATED, now, out, "session created"):
            return
        link = self.link
        link.expect("session.updated", now + self.config.connection_timeout_s)
        link.server_session_id = e.session_id
        if e.expires_at is not None:
            link.expires(e.expires_at - self.ctx.wall(now), now)
        out.journal(link.record(server_session_id=e.session_id, expires_at=e.expires_at))
        history = self.history()
        instructions = None
        if history:
            _, summary = plan_replay(history, self.config.replay_max_turns)
            instructions = resume_instructions(self.config.instructions, summary)
        link.update_event_id = self.ctx.next_event_id("cfg")
        link.offered_handle = link.resume_handle
        out.send(ev.SessionUpdate(session=self.config.session_payload(instructions),
                                  event_id=link.update_event_id, resume_handle=link.resume_handle))

    def _session_updated(self, resumed: bool, now: float, out: Outbox) -> None:
        if self.state is not SessionState.CONFIGURING:
            return
        if not resumed:  # a new server session: tell it the conversation so far
            items, _ = plan_replay(self.history(), self.config.replay_max_turns)
            for item in items:
                out.send(ev.ConversationItemCreate(item=item))
        self.link.ready()
        if self.metrics.ready_at is None:
            self.metrics.ready_at = now
        self.ctx.move(Trigger.CONFIGURED, now, out, "ready")
        if self.ctx.paused:  # a reconnect or rollover does not undo the user's pause
            self.ctx.move(Trigger.PAUSE, now, out, "still paused", Cause.FOLLOW)
        self.metrics.last_activity = now
        if self.turns.tools.ready_to_send():
            if resumed:  # the kept session never got them
                self.turns.send_tool_outputs(now, out)
            else:
                self.turns.outputs_replayed(now, out)

    def _server_error(self, e: ev.ServerError, now: float, out: Outbox) -> None:
        code = e.code or ""
        if code == "session_expired":
            out.note("info", "server session expired; rolling over")
            self._start_rollover(now, out)
            return
        update_id = self.link.update_event_id
        refused_config = update_id is not None and (
            e.client_event_id == update_id
            or (self.state is SessionState.CONFIGURING and (e.param or "").startswith("session"))
        )
        if code in FATAL_ERROR_CODES or refused_config:
            what = "the server refused the session configuration" if refused_config else "fatal"
            self._fail(f"{what}: {e.message} ({code or e.type})", now, out)
            return
        if code == "response_cancel_not_active":
            return
        if code == "conversation_already_has_active_response":
            self.turns.flight.pending_create = True
            return
        self.metrics.errors += 1
        out.note("warning", f"server error: {e.message} ({code or e.type})")

    def _check_expiry(self, now: float, out: Outbox) -> None:
        link = self.link
        if link.expires_at is None or not link.connected:
            return
        if now < link.expires_at - link.rollover_margin:
            return
        late = now >= link.late_from() and self._server_quiet()
        if self.is_quiet() or late or now >= link.forced_from():
            self._start_rollover(now, out)
        else:
            link.rollover_wanted = True

    def _server_quiet(self) -> bool:
        """Nothing in flight on the server's side: no response, no wait, no user turn open.
        Audio already received may still be playing; it plays on across a new connection."""
        f = self.turns.flight
        return (self.state in (SessionState.READY, SessionState.RESPONDING,
                               SessionState.INTERRUPTED, SessionState.PAUSED)
                and f.response is None and f.awaiting_since is None and not f.pending_create
                and not self.turns.ptt_open and not self.turns.tools.waiting)

    def figures(self, now: float) -> SessionFigures:
        """Every figure of the session, each with one meaning (see `SessionFigures`)."""
        m = self.metrics
        kinds = m.interruptions_by_kind
        heard = sum(min(i.played_samples, i.received_samples)
                    for i in self.turns.ledger.values() if i.kind is ItemKind.ASSISTANT)
        return SessionFigures(
            session_id=self.session_id, user_turns=m.user_turns,
            assistant_turns=m.assistant_turns, tool_calls=m.tool_calls,
            speech_overlaps=kinds.get(InterruptionKind.SPEECH_OVERLAP, 0),
            cancel_requests=kinds.get(InterruptionKind.CANCEL_REQUEST, 0),
            manual_cancels=kinds.get(InterruptionKind.MANUAL_CANCEL, 0),
            heard_fraction=m.average_heard_fraction, errors=m.errors,
            time_to_ready_ms=m.time_to_ready_ms, audio_sent_ms=m.audio_ms_sent,
            audio_received_ms=m.audio_ms_received,
            audio_heard_ms=m.audio_ms_heard_before + heard / SAMPLES_PER_MS,
            idle_s=m.idle_s_before + self.lifecycle.time_in(SessionState.READY, now),
            reconnects=m.reconnects,
            rollovers=m.rollovers, last_activity_at=self.ctx.wall(m.last_activity),
            transcription=m.transcription)

    def _after_turn(self, now: float, out: Outbox) -> None:
        """A turn just ended: its figures are kept; then the assistant's goodbye, or a
        rollover that waited for quiet."""
        if self._stored:
            out.journal(self.figures(now))
        if self.turns.goodbye_due():
            self._close(now, "conversation ended by the assistant", 0, out)
        if self.link.rollover_wanted and self.lifecycle.can_accept_input():
            self._check_expiry(now, out)

    # ------------------------------------------------------------------ ending

    def close(self, now: float, reason: str, exit_code: int = 0) -> Commands:
        """End the conversation from outside (a lost device, the input ran out)."""
        out = Outbox()
        self._close(now, reason, exit_code, out)
        return out.commands

    def _close(self, now: float, reason: str, exit_code: int, out: Outbox) -> None:
        if not self.ctx.move(Trigger.CLOSE, now, out, reason, Cause.FOLLOW):
            return  # already closing or closed
        out.add(cmd.FlushPlayback())
        self._finish(now, SessionStatus.ENDED, reason, exit_code, out)

    def _fail(self, message: str, now: float, out: Outbox) -> None:
        out.note("error", message)
        self.metrics.errors += 1
        self.ctx.move(Trigger.FAIL, now, out, message, Cause.FOLLOW)
        self._finish(now, SessionStatus.FAILED, message, EXIT_FATAL, out, cmd.EndCause.TRANSPORT)

    def _finish(self, now: float, status: SessionStatus, reason: str, code: int,
                out: Outbox, cause: cmd.EndCause = cmd.EndCause.NORMAL) -> None:
        self.turns.settle_heard(now, out)
        self.metrics.closed_at = now
        link = self.link
        if link.connected:
            out.journal(link.record(closed_at=self.ctx.wall(now), close_code=1000,
                                    close_reason=reason))
        if self._stored:
            out.journal(self.figures(now))
            out.journal(SessionEnded(session_id=self.session_id, ended_at=self.ctx.wall(now),
                                     status=status, reason=reason))
        self.ctx.move(Trigger.CLOSED, now, out, reason, Cause.FOLLOW)
        out.add(cmd.Shutdown(exit_code=code, reason=reason, cause=cause))

    # ------------------------------------------------------------------ user commands

    def _user(self, event: inp.UserCommand, out: Outbox) -> None:
        now = event.now
        turns = self.turns
        self.metrics.last_activity = now
        match event.action:
            case inp.Action.QUIT:
                self._close(now, "quit by user", event.exit_code, out)
            case inp.Action.MUTE | inp.Action.UNMUTE | inp.Action.TOGGLE_MUTE:
                turns.muted = {inp.Action.MUTE: True, inp.Action.UNMUTE: False}.get(
                    event.action, not turns.muted)
                out.note("info", "microphone muted" if turns.muted else "microphone on")
            case inp.Action.INTERRUPT:
                if turns.audible():
                    turns.interrupt(InterruptionKind.MANUAL_CANCEL, now, out)
                else:
                    out.note("info", "nothing to interrupt")
            case inp.Action.SEND_TEXT:
                text = (event.text or "").strip()
                if not text:
                    return
                if not self._can_talk():
                    why = "paused (press p to resume)" if self.ctx.paused else "not connected"
                    out.note("warning", f"{why}; message not sent")
                    return
                turns.send_text(text, now, out)
            case inp.Action.PUSH_TO_TALK:
                if self.config.vad_enabled:
                    out.note("info", "push-to-talk needs --turn-detection none")
                elif self._can_talk():
                    turns.push_to_talk(now, out)
            case inp.Action.PAUSE:
                if self.ctx.move(Trigger.PAUSE, now, out, "paused", Cause.LOCAL):
                    self.ctx.paused = True
                    turns.pause(now, out)
                    out.note("info", "paused: press p to resume")
            case inp.Action.RESUME:
                if self.ctx.paused and self.state is not SessionState.PAUSED:
                    self.ctx.paused = False  # reconnecting: it comes back ready, not paused
                    out.add(cmd.ResumePlayback())
                    out.note("info", "resumed")
                elif self.ctx.move(Trigger.RESUME, now, out, "resumed", Cause.LOCAL):
                    self.ctx.paused = False
                    turns.resume(now, out)
                    out.note("info", "resumed")
            case _:
                assert_never(event.action)

    # ------------------------------------------------------------------ time

    def next_deadline(self) -> float | None:
        """The earliest monotonic time at which `Tick` may change something."""
        if not self.lifecycle.is_active():
            return None
        candidates = self._deadlines()
        return min(candidates) if candidates else None

    def _deadlines(self) -> list[float]:
        """Only deadlines a Tick can act on now, or the driver would spin on a past deadline:
        idle counts in quiet states, and a deferred rollover waits for the turn's end (or the
        last second before expiry)."""
        cfg = self.config
        out = self.turns.flight.deadlines(cfg.response_timeout_s)
        if cfg.idle_timeout_s and self.state in QUIET_STATES:
            out.append(self.metrics.last_activity + cfg.idle_timeout_s)
        if cfg.total_timeout_s:
            out.append(self.ctx.mono0 + cfg.total_timeout_s)
        rollover = self.link.rollover_deadline(self._now)
        if rollover is not None:
            out.append(rollover)
        if self.link.setup_deadline is not None:
            out.append(self.link.setup_deadline)
        return out

    def _tick(self, now: float, out: Outbox) -> None:
        cfg = self.config
        if not self.lifecycle.is_active() or self.state is SessionState.CLOSING:
            return
        link = self.link
        if link.setup_deadline is not None and now >= link.setup_deadline:
            step = link.awaiting
            link.lost()
            self._abandon_connection(now, out)
            if not link.ever_ready:
                self._fail(f"timed out waiting for the server's {step}", now, out)
            else:
                self._schedule_reconnect(now, f"no {step} in time", out,
                                         resume_refused=link.resume_failed())
            return
        if cfg.total_timeout_s and now >= self.ctx.mono0 + cfg.total_timeout_s:
            self._close(now, f"time limit of {cfg.total_timeout_s:g} s reached", 0, out)
            return
        if (cfg.idle_timeout_s and self.state in QUIET_STATES
                and now >= self.metrics.last_activity + cfg.idle_timeout_s):
            self._close(now, f"idle for {cfg.idle_timeout_s:g} s", 0, out)
            return
        self.turns.response_timeouts(now, out)
        self._check_expiry(now, out)

    # ------------------------------------------------------------------ pictures

    def snapshot(self, now: float, max_lines: int = 60) -> CoreSnapshot:
        lines: list[TranscriptLine] = []
        for item in self.turns.ledger.values()[-max_lines:]:
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
        link = self.link
        expires_in = (link.expires_at - now) if link.expires_at else None
        notice = self.notice
        return CoreSnapshot(
            session_id=self.session_id, model=self.config.model, voice=self.config.voice,
            state=self.state, connected=link.connected, connection_index=link.index,
            reconnects=m.reconnects, rollovers=m.rollovers, expires_in_s=expires_in,
            elapsed_s=now - self.ctx.mono0, muted=self.turns.muted,
            push_to_talk=not self.config.vad_enabled, ptt_open=self.turns.ptt_open,
            transcript=tuple(lines), turns_by_kind=dict(m.turns_by_kind),
            interruptions_by_kind=dict(m.interruptions_by_kind),
            last_latency_ms=m.last_latency_ms, avg_latency_ms=m.average_latency_ms,
            time_to_ready_ms=m.time_to_ready_ms, tokens=m.tokens,
            transcription=m.transcription, errors=m.errors,
            notice_level=notice.level if notice else None,
            notice_text=notice.text if notice else None,
            assistant_turns=self.turns.assistant_turns,
            user_turns=sum(1 for i in self.turns.ledger.values() if i.kind in USER_ROLES),
        )
