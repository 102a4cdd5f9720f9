"""What every part of the session core shares: the settings, the lifecycle, the metrics, ids,
the time anchor, and the outbox the current input's commands go to.

Parts (`Link`, `Turns`) hold a `Context` instead of reaching into each other; `SessionCore`
is the only place where two parts meet.
"""

from __future__ import annotations

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.metrics import SessionMetrics
from realtime_cli.core.records import JournalRecord
from realtime_cli.core.states import Cause, Lifecycle, SessionState, Trigger
from realtime_cli.protocol import events as ev


class Outbox:
    """The commands one input produces, in the order the driver must execute them."""

    def __init__(self) -> None:
        self.commands: list[cmd.Command] = []

    def add(self, command: cmd.Command) -> None:
        self.commands.append(command)

    def send(self, event: ev.ClientEvent) -> None:
        self.commands.append(cmd.Send(event=event))

    def journal(self, record: JournalRecord) -> None:
        self.commands.append(cmd.Journal(record=record))

    def note(self, level: str, text: str) -> None:
        self.commands.append(cmd.Notice(level=level, text=text))


class Context:
    def __init__(self, config: SessionConfig, *, session_id: str, now: float, next_seq: int,
                 keep_audio: bool) -> None:
        self.config = config
        self.session_id = session_id
        self.keep_audio = keep_audio
        self.lifecycle = Lifecycle(now)
        self.metrics = SessionMetrics(created_at=now, last_activity=now)
        self.mono0 = now
        self.wall0 = 0.0
        self.seq = next_seq
        self._event_seq = 0
        self.connection = 0  # index of the connection items arrive on now
        self.paused = False  # the user paused; kept across reconnects and rollovers

    @property
    def state(self) -> SessionState:
        return self.lifecycle.state

    def anchor(self, now: float, wall: float) -> None:
        """Tie monotonic time to epoch time, so records carry dates people can read."""
        self.mono0, self.wall0 = now, wall
        self.metrics.created_at = self.metrics.last_activity = now

    def wall(self, now: float) -> float:
        return self.wall0 + (now - self.mono0)

    def next_event_id(self, kind: str) -> str:
        self._event_seq += 1
        return f"rt_{kind}_{self._event_seq}"

    def new_local_id(self) -> str:
        self.seq += 1
        return f"rt{self.session_id[:8]}_{self.seq:05d}"

    def move(self, trigger: Trigger, now: float, out: Outbox, reason: str = "",
             cause: Cause = Cause.PEER) -> bool:
        """Apply a transition if the table allows it; otherwise handle the refusal by its cause."""
        life = self.lifecycle
        if not life.can(trigger):
            if cause is Cause.FOLLOW:
                return False
            life.refuse(trigger, now, cause)
            if cause is Cause.LOCAL:
                out.note("info", f"cannot {trigger.value.replace('_', ' ')} while {life.state.value}")
            else:
                self.metrics.refused_moves += 1
            return False
        change = life.apply(trigger, now)
        if change.old is not change.new:
            out.add(cmd.StatusChanged(old=change.old, new=change.new, reason=reason or trigger))
        return True
