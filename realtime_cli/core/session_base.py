"""The state every part of the session core shares, and the small helpers they all use.

`SessionCore` (session.py) is assembled from this base and two parts, each in its own module:
`connection.ConnectionFlow` (connecting, configuring, reconnecting, rolling over, ending) and
`turn_flow.TurnFlow` (speech, responses, barge-in, tools, audio in and out). The few methods
one part calls in the other are declared here, so each module reads (and type-checks) alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from realtime_cli.core import commands as cmd
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.conversation import ItemState, ResponseState, SentAudio
from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.metrics import SessionMetrics
from realtime_cli.core.records import ItemKind
from realtime_cli.core.states import Lifecycle, SessionState, Trigger
from realtime_cli.protocol import events as ev

Commands = list[cmd.Command]
QUIET_STATES = (SessionState.READY,)
EXIT_FATAL = 3


class CoreBase:
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

    def _assistant_audible(self) -> bool:
        """The user can hear the assistant now, or is about to (a response is streaming)."""
        if self.response is not None and not self.response.suppressed:
            return True
        return not self._playback_idle

    # -- implemented by ConnectionFlow / TurnFlow, called across them --------------------------

    def _close(self, now: float, reason: str, exit_code: int, out: Commands) -> None:
        raise NotImplementedError

    def _check_expiry(self, now: float, out: Commands) -> None:
        raise NotImplementedError

    def _all_tools_answered(self) -> bool:
        raise NotImplementedError

    def _send_tool_outputs(self, out: Commands) -> None:
        raise NotImplementedError
