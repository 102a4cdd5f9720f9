"""Lifecycle states of a session and the one table of legal moves between them.

Theory of operation
-------------------
The session core is always in exactly one `SessionState`. It changes state only through
`Lifecycle.apply(trigger, now)`, which looks the pair (state, trigger) up in
`TRANSITIONS`. Everything that can move the lifecycle is listed in this file and nowhere else:

* connection:  INITIALIZING -OPENED-> CONNECTED -SESSION_CREATED-> CONFIGURING -CONFIGURED-> READY.
  A lost connection (DISCONNECTED) drops any live state back to INITIALIZING, from where the
  driver reconnects; the conversation itself lives on in the core, not in the state.
* turns:       READY -SPEECH_STARTED-> LISTENING -SPEECH_STOPPED-> PROCESSING
               -RESPONSE_STARTED-> RESPONDING -RESPONSE_FINISHED-> READY.
  RESPONDING lasts until the response is done AND its audio has finished playing, because
  the user is still hearing the assistant until then (that is what barge-in interrupts).
* barge-in:    RESPONDING -INTERRUPT-> INTERRUPTED, then SPEECH_STARTED -> LISTENING (the
  user talks over it) or RESPONSE_FINISHED -> READY (manual cancel, stop phrase).
* pause:       any conversational state -PAUSE-> PAUSED -RESUME-> READY.
* ending:      any live state -CLOSE-> CLOSING -CLOSED-> CLOSED; any state but CLOSED -FAIL-> ERROR,
  and ERROR -CLOSED-> CLOSED once cleanups ran.

An illegal pair raises `InvalidTransition` and leaves the state unchanged (h11's rule). The core
never lets that escape: it asks `can()` first and handles a refusal by its `Cause` (see
`core/context.py`): a move the server caused is recorded in `refused` and survived, one the user
asked for is told as a notice, and one that merely follows from other facts ("the turn ends once
its audio has played") is applied only where it applies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from realtime_cli.errors import InvalidTransition


class SessionState(enum.StrEnum):
    INITIALIZING = "initializing"
    CONNECTED = "connected"
    CONFIGURING = "configuring"
    READY = "ready"
    LISTENING = "listening"
    PROCESSING = "processing"
    RESPONDING = "responding"
    INTERRUPTED = "interrupted"
    PAUSED = "paused"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


class Trigger(enum.StrEnum):
    OPENED = "opened"
    SESSION_CREATED = "session_created"
    CONFIGURED = "configured"
    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"
    RESPONSE_STARTED = "response_started"
    RESPONSE_FINISHED = "response_finished"
    INTERRUPT = "interrupt"
    PAUSE = "pause"
    RESUME = "resume"
    DISCONNECTED = "disconnected"
    CLOSE = "close"
    CLOSED = "closed"
    FAIL = "fail"


S = SessionState
T = Trigger

_CONVERSATIONAL = (S.READY, S.LISTENING, S.PROCESSING, S.RESPONDING, S.INTERRUPTED)
_CONNECTED = (S.CONNECTED, S.CONFIGURING, *_CONVERSATIONAL, S.PAUSED)
_LIVE = (S.INITIALIZING, *_CONNECTED)

TRANSITIONS: dict[tuple[SessionState, Trigger], SessionState] = {
    (S.INITIALIZING, T.OPENED): S.CONNECTED,
    (S.CONNECTED, T.SESSION_CREATED): S.CONFIGURING,
    (S.CONFIGURING, T.CONFIGURED): S.READY,
    (S.READY, T.SPEECH_STARTED): S.LISTENING,
    (S.LISTENING, T.SPEECH_STARTED): S.LISTENING,
    (S.PROCESSING, T.SPEECH_STARTED): S.LISTENING,
    (S.INTERRUPTED, T.SPEECH_STARTED): S.LISTENING,
    (S.LISTENING, T.SPEECH_STOPPED): S.PROCESSING,
    (S.READY, T.RESPONSE_STARTED): S.RESPONDING,
    (S.LISTENING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.PROCESSING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.INTERRUPTED, T.RESPONSE_STARTED): S.RESPONDING,
    (S.RESPONDING, T.RESPONSE_STARTED): S.RESPONDING,
    (S.RESPONDING, T.RESPONSE_FINISHED): S.READY,
    (S.INTERRUPTED, T.RESPONSE_FINISHED): S.READY,
    (S.PROCESSING, T.RESPONSE_FINISHED): S.READY,
    (S.RESPONDING, T.INTERRUPT): S.INTERRUPTED,
    **{(s, T.PAUSE): S.PAUSED for s in _CONVERSATIONAL},
    (S.PAUSED, T.RESUME): S.READY,
    **{(s, T.DISCONNECTED): S.INITIALIZING for s in _CONNECTED},
    **{(s, T.CLOSE): S.CLOSING for s in _LIVE},
    (S.CLOSING, T.CLOSED): S.CLOSED,
    (S.ERROR, T.CLOSED): S.CLOSED,
    **{(s, T.FAIL): S.ERROR for s in (*_LIVE, S.CLOSING)},
}


_ACCEPTS_INPUT = frozenset(_CONVERSATIONAL)


class Cause(enum.StrEnum):
    """Who asked for a move; decides what an illegal one becomes."""

    PEER = "peer"  # a server event, the transport or the clock: recorded, survived
    LOCAL = "local"  # a key or a command of the user: told as a notice
    FOLLOW = "follow"  # follows from other facts: applied where the table allows it


@dataclass(frozen=True, slots=True)
class RefusedMove:
    at: float
    state: SessionState
    trigger: Trigger
    cause: Cause


@dataclass(frozen=True, slots=True)
class StateChange:
    at: float
    old: SessionState
    new: SessionState
    trigger: Trigger


class Lifecycle:
    """The current state, its history with timestamps, and the moves that were refused."""

    def __init__(self, now: float) -> None:
        self.state = SessionState.INITIALIZING
        self.entered_at = now
        self.history: list[StateChange] = []
        self.refused: list[RefusedMove] = []

    def can(self, trigger: Trigger) -> bool:
        return (self.state, trigger) in TRANSITIONS

    def apply(self, trigger: Trigger, now: float) -> StateChange:
        new = TRANSITIONS.get((self.state, trigger))
        if new is None:
            raise InvalidTransition(
                f"cannot handle {trigger.value!r} in state {self.state.value!r}"
            ) from None
        change = StateChange(at=now, old=self.state, new=new, trigger=trigger)
        self.state = new
        self.entered_at = now
        self.history.append(change)
        return change

    def refuse(self, trigger: Trigger, now: float, cause: Cause) -> RefusedMove:
        move = RefusedMove(at=now, state=self.state, trigger=trigger, cause=cause)
        self.refused.append(move)
        return move

    def is_active(self) -> bool:
        return self.state not in (SessionState.CLOSED, SessionState.ERROR)

    def can_accept_input(self) -> bool:
        return self.state in _ACCEPTS_INPUT

    def time_in(self, state: SessionState, now: float) -> float:
        """Seconds spent in `state` so far, the current stay included."""
        total, since = 0.0, None
        entered = self.history[0].at if self.history else self.entered_at
        current = SessionState.INITIALIZING
        for change in self.history:
            if current is state:
                total += change.at - (since if since is not None else entered)
            current, since = change.new, change.at
        if self.state is state:
            total += now - (since if since is not None else entered)
        return total

    def state_duration(self, now: float) -> float:
        return now - self.entered_at
