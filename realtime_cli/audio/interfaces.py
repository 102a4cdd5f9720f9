"""The two shapes every audio endpoint has, real device or WAV file.

The runner only talks to these. Sources produce 24 kHz mono PCM16; sinks consume it. Both are
driven from asyncio; any thread (PortAudio callbacks) stays inside the implementation and
crosses into the loop in one named place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from realtime_cli.audio.echo import EchoStats


@dataclass(frozen=True, slots=True)
class SourceLevels:
    level_dbfs: float
    speech: bool  # local speech indicator (energy based), for the dashboard only
    overflows: int = 0
    echo: EchoStats | None = None  # the echo processor's state; None: no echo handling here


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """A consistent snapshot of the playback side.

    `item_id` / `played_samples`: the assistant item being heard and how many of its 24 kHz
    samples have reached the listener (device output latency already subtracted).
    `idle`: nothing queued and nothing in flight.
    """

    item_id: str | None
    played_samples: int
    buffered_ms: float
    level_dbfs: float
    underruns: int
    idle: bool


class AudioSource(Protocol):
    async def start(self) -> None: ...

    async def read(self) -> bytes:
        """Next block of 24 kHz mono PCM16 (about 20 ms). Raises AudioDeviceError if lost."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a WAV file) has been fed entirely; live mics never are."""
        ...

    def levels(self) -> SourceLevels: ...

    async def close(self) -> None: ...


class AudioSink(Protocol):
    async def start(self) -> None: ...

    def play(self, item_id: str, pcm: bytes) -> None:
        """Queue 24 kHz mono PCM16 of one assistant item (items play in order)."""
        ...

    def end_of_item(self, item_id: str) -> None:
        """All audio of `item_id` has been queued: play its tail even if shorter than the
        prebuffer, so playback can go idle."""
        ...

    def flush(self) -> None:
        """Drop everything queued and stop within one block, with a short fade (barge-in)."""
        ...

    def stop(self) -> None:
        """End playback for good, at once, as the session ends: like `flush`, but the output
        is not made ready to play again (on a device that has just gone away, restarting it
        could leave PortAudio's state broken for the close that follows)."""
        ...

    def pause(self) -> None:
        """Hold playback where it is, keeping what is queued (the session is paused)."""
        ...

    def resume(self) -> None:
        """Go on from where `pause` held it."""
        ...

    def status(self) -> SinkStatus: ...

    async def close(self) -> None: ...
