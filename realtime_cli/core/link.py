"""The session's link to a server: which connection this is, whether it is up, when the server
session expires, and the policy for reconnecting (docs/protocol.md#connection-and-close-codes,
#session-expiry-and-rollover).

A reconnect or a rollover starts a new server session; `SessionCore` then replays the
conversation into it. This part only keeps the facts and the timers of the connection.
"""

from __future__ import annotations

from collections.abc import Callable

from realtime_cli.core.backoff import backoff_delay
from realtime_cli.core.records import ConnectionRecord

# A rollover that is due waits for the conversation to be quiet. In the last LATE_S it settles
# for the server being quiet (no response in flight: what was received plays on across the new
# connection), and FORCE_S before the expiry it goes regardless. `expires_at` comes in whole
# seconds, so the real end may be up to a second before it: FORCE_S leaves two.
LATE_S = 30.0
FORCE_S = 2.0


class Link:
    def __init__(self, session_id: str, *, resumed: bool, max_attempts: int,
                 rollover_margin_s: float, jitter: Callable[[], float]) -> None:
        self._session_id = session_id
        self._jitter = jitter
        self._max_attempts = max_attempts
        self._margin_setting = rollover_margin_s
        self.index = 0
        self.connected = False
        self.server_session_id: str | None = None
        self.reason = "resume" if resumed else "initial"
        self.opened_at = 0.0  # wall time the current connection opened
        self.connect_pending = False
        self.attempts = 0  # failed tries in a row
        self.ever_ready = False
        self.update_event_id: str | None = None  # the session.update awaiting its answer
        self.setup_deadline: float | None = None  # the server's next setup step is due by then
        self.awaiting = "session.created"  # ... and this is the step
        self.expires_at: float | None = None  # monotonic time the server session expires
        self.rollover_margin = rollover_margin_s
        self.rollover_wanted = False  # due, waiting for a quiet moment
        self.resume_handle: str | None = None  # where the provider lets a new connection resume
        self.offered_handle: str | None = None  # the handle this connection asked to resume with

    def record(self, *, server_session_id: str | None = None, expires_at: float | None = None,
               closed_at: float | None = None, close_code: int | None = None,
               close_reason: str | None = None) -> ConnectionRecord:
        """The one way to describe this connection to the journal (upserted by index)."""
        return ConnectionRecord(
            session_id=self._session_id, index=self.index, reason=self.reason,
            opened_at=self.opened_at, server_session_id=server_session_id,
            expires_at=expires_at, closed_at=closed_at, close_code=close_code,
            close_reason=close_reason)

    def opened(self, now: float, wall: float, timeout_s: float) -> None:
        self.connect_pending = False
        self.connected = True
        self.index += 1
        self.opened_at = wall
        self.offered_handle = None
        self.expect("session.created", now + timeout_s)

    def lost(self) -> None:
        self.connected = False
        self.setup_deadline = None

    def expect(self, step: str, deadline: float | None) -> None:
        """The connection is set up in steps the server answers; each must come in time."""
        self.awaiting, self.setup_deadline = step, deadline

    def connecting(self, reason: str) -> None:
        self.reason = reason
        self.connect_pending = True

    def next_backoff(self) -> float | None:
        """The delay before the next try, or None when the tries are used up."""
        self.attempts += 1
        if self.attempts > self._max_attempts:
            return None
        return backoff_delay(self.attempts, self._jitter())

    def resume_failed(self) -> bool:
        """This connection offered a handle and ended before the server took it up: the handle
        is dropped, so the next connection starts a new server session (and is told the
        conversation) instead of offering a refused handle again and again."""
        if self.offered_handle is None:
            return False
        if self.resume_handle == self.offered_handle:
            self.resume_handle = None
        self.offered_handle = None
        return True

    def ready(self) -> None:
        self.offered_handle = None  # taken up (or ignored): no longer on trial
        self.setup_deadline = None
        self.update_event_id = None
        self.attempts = 0
        self.ever_ready = True

    def expires(self, length_s: float, now: float) -> None:
        """Roll over `rollover_margin_s` early, but never in the first half of a session: a
        session shorter than twice the margin would otherwise roll over as soon as it is ready,
        again and again. An expiry already past (clock skew) is left to the server's
        session_expired."""
        self.expires_at = now + length_s if length_s > 0 else None
        self.rollover_margin = min(self._margin_setting, max(0.0, length_s) / 2)

    def ending(self, seconds_left: float, now: float) -> None:
        """The server announced the end of this connection: the rollover is due at once."""
        self.expires_at = now + max(0.0, seconds_left)
        self.rollover_margin = max(0.0, seconds_left)

    def rollover_deadline(self, now: float) -> float | None:
        """When a Tick may next change the rollover: its start, then its late window, then the
        forced last moment (each only while still ahead, so a driver never spins)."""
        if self.expires_at is None or not self.connected:
            return None
        if not self.rollover_wanted:
            return self.expires_at - self.rollover_margin
        late, force = self.late_from(), self.forced_from()
        return late if late > now else force

    def late_from(self) -> float:
        assert self.expires_at is not None
        return self.expires_at - min(LATE_S, self.rollover_margin)

    def forced_from(self) -> float:
        assert self.expires_at is not None
        return self.expires_at - min(FORCE_S, self.rollover_margin / 2)

    def rolling_over(self) -> None:
        self.rollover_wanted = False
        self.expires_at = None
