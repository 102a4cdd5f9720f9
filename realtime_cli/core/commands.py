"""What the session core asks its driver to do, as values returned by `SessionCore.handle`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from realtime_cli.core.records import JournalRecord
from realtime_cli.core.states import SessionState
from realtime_cli.protocol.events import ClientEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    event: ClientEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    item_id: str
    pcm: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfAudio:
    """All of `item_id`'s audio has arrived: play out what is below the prebuffer, then go
    idle. Without it the last block of an answer waits for audio that never comes."""

    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PausePlayback:
    """Hold playback where it is, keeping what is queued (the session is paused)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumePlayback:
    """Go on playing from where `PausePlayback` held it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushPlayback:
    """Stop the voice now and drop everything queued (barge-in)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Journal:
    record: JournalRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged:
    old: SessionState
    new: SessionState
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Connect:
    """Open a (new) connection after `delay_s`; close the current one first if still open.

    `reason`: "initial" | "reconnect" | "rollover". `attempt` counts failed tries in a row.
    """

    delay_s: float
    reason: str
    attempt: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTool:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTool:
    """Stop the tool running for `call_id`, if it still runs: the server withdrew the call, so
    its output will not be sent (whatever it returns now is ignored)."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """Something a person should see: level "info" | "warning" | "error"."""

    level: str
    text: str


class EndCause(enum.StrEnum):
    """What ended the session, so the driver raises the matching error (or none)."""

    NORMAL = "normal"  # not a failure: a quit, a signal, a limit, the end of the input
    CONFIG = "config"  # a setting the session cannot run with
    TRANSPORT = "transport"  # the connection or the server: refused, lost, failed
    AUDIO = "audio"  # a microphone or speaker that failed or went away
    STORAGE = "storage"  # the journal could not be written


@dataclass(frozen=True, slots=True, kw_only=True)
class Shutdown:
    """Close the connection and end the run with `exit_code` (cleanups already done)."""

    exit_code: int
    reason: str
    cause: EndCause = EndCause.NORMAL


Command = (
    Send | Play | EndOfAudio | PausePlayback | ResumePlayback | FlushPlayback | Journal
    | StatusChanged | Connect | RunTool | CancelTool | Notice | Shutdown
)
