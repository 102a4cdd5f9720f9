"""The response in flight and the wait for one: what the server is answering, since when, and
what the core still owes it (a `response.create` held back while another response runs).

Every time here is the `now` of the input that started it, so a deadline is always measured
from the event it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from realtime_cli.protocol import events as ev


@dataclass(slots=True)
class ResponseState:
    response_id: str
    started_at: float  # monotonic
    turn_end_at: float | None  # end of the user's turn, for latency
    item_ids: list[str] = field(default_factory=list)  # local ids in output order
    first_audio_at: float | None = None
    interrupted: bool = False
    suppressed: bool = False  # answer to a stop phrase: cancelled, never played
    cancel_sent: bool = False  # response.cancel went out: once is enough
    last_event_at: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        if self.first_audio_at is None or self.turn_end_at is None:
            return None
        return (self.first_audio_at - self.turn_end_at) * 1000.0


class Flight:
    def __init__(self) -> None:
        self.response: ResponseState | None = None
        self.turn_end_at: float | None = None  # the user's turn ended here; latency counts from it
        self.awaiting_since: float | None = None  # a response is expected since then
        self.pending_create = False  # a response.create waits for the current response to end
        self.suppress_next = False  # the next response answers a stop phrase: cancel it
        self.last_committed: str | None = None  # the user item the next response answers
        self.answered: str | None = None  # ... and the one the latest response answered

    def audible(self) -> bool:
        return self.response is not None and not self.response.suppressed

    def expect(self, now: float) -> None:
        self.awaiting_since = now

    def start(self, response_id: str, now: float) -> ResponseState:
        self.awaiting_since = None
        self.response = ResponseState(response_id=response_id, started_at=now,
                                      turn_end_at=self.turn_end_at, last_event_at=now)
        self.turn_end_at = None
        self.answered = self.last_committed
        return self.response

    def deadlines(self, timeout_s: float) -> list[float]:
        out: list[float] = []
        if self.awaiting_since is not None:
            out.append(self.awaiting_since + timeout_s)
        if self.response is not None:
            out.append(self.response.last_event_at + timeout_s)
        return out

    def cancel(self) -> ev.ResponseCancel | None:
        """The cancel to send for the response in flight, once."""
        resp = self.response
        if resp is None or resp.cancel_sent:
            return None
        resp.cancel_sent = True
        return ev.ResponseCancel(response_id=resp.response_id)

    def forget(self) -> None:
        """The server session is gone, and with it any response or wait."""
        self.response = None
        self.awaiting_since = None
