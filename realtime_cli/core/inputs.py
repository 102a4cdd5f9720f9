"""Everything that can happen to a session, as values fed to `SessionCore.handle`.

`now` is monotonic seconds from the driver's clock; the core never reads a clock itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from realtime_cli.protocol.events import ServerEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class Begin:
    """Start of the session in this process; `wall` anchors record timestamps to epoch time."""

    now: float
    wall: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened:
    """The WebSocket handshake succeeded."""

    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed:
    """A connection attempt failed before opening; `fatal` ones (bad key, 403/404) end the run."""

    now: float
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """The socket closed: `code` None means it dropped without a close frame."""

    now: float
    code: int | None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerMessage:
    now: float
    event: ServerEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class MicAudio:
    """About 20 ms of 24 kHz mono PCM16 from the microphone (or a WAV standing in for it)."""

    now: float
    pcm: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Playback:
    """Playback progress: `played_samples` of `item_id` have reached the listener; `idle` when
    nothing is queued or playing."""

    now: float
    item_id: str | None
    played_samples: int
    idle: bool


class Action(enum.StrEnum):
    INTERRUPT = "interrupt"
    MUTE = "mute"
    UNMUTE = "unmute"
    TOGGLE_MUTE = "toggle_mute"
    SEND_TEXT = "send_text"
    PUSH_TO_TALK = "push_to_talk"  # start a turn, or end it if one is open (turn detection off)
    PAUSE = "pause"
    RESUME = "resume"
    QUIT = "quit"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserCommand:
    now: float
    action: Action
    text: str | None = None
    exit_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolOutput:
    """The result of a tool the core asked to run (`RunTool`)."""

    now: float
    call_id: str
    output: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageTrouble:
    """The journal could not write (a full disk, a locked database); told once, talking goes on."""

    now: float
    problem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passed; the driver sends one at `next_deadline()` or whenever it likes."""

    now: float


Input = (
    Begin
    | Opened
    | ConnectFailed
    | Closed
    | ServerMessage
    | MicAudio
    | Playback
    | UserCommand
    | ToolOutput
    | StorageTrouble
    | Tick
)
