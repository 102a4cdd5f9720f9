"""Connecting, configuring, reconnecting, rolling over and ending: the session's link to a
server (PROTOCOL.md §0, §2, §6). A reconnect or a rollover starts a new server session, so the
conversation is replayed as text (§4) once the new session is configured.
"""

from __future__ import annotations

from realtime_cli.audio.pcm import SAMPLES_PER_MS
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.backoff import (
    FATAL_CLOSE_CODES,
    FATAL_ERROR_CODES,
    backoff_delay,
    is_retryable_close,
)
from realtime_cli.core.conversation import ItemState
from realtime_cli.core.history import plan_replay, resume_instructions
from realtime_cli.core.records import (
    ConnectionRecord,
    ItemKind,
    SessionEnded,
    SessionStarted,
    SessionStatus,
)
from realtime_cli.core.session_base import EXIT_FATAL, Commands, CoreBase
from realtime_cli.core.states import SessionState, Trigger
from realtime_cli.protocol import events as ev


class ConnectionFlow(CoreBase):
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

    def _check_expiry(self, now: float, out: Commands) -> None:
        if self._expires_deadline is None or not self.connected:
            return
        if now >= self._expires_deadline - self._rollover_margin:
            if self.is_quiet() or now >= self._expires_deadline - 1.0:
                self._start_rollover(now, out)
            else:
                self._rollover_wanted = True
