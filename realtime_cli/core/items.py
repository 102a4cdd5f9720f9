"""The conversation's items as the core tracks them, with their audio ledger: what arrived, what
the listener heard, where it was cut.

Truncation arithmetic lives here (docs/protocol.md#truncation): the truncation point is the
audio of an item that actually reached the listener (samples played ÷ 24 at 24 kHz, from
playback-progress inputs, never the wall clock), clamped to the audio received.

An item's audio is kept only until the journal holds its final form: then `release_audio`
drops the bytes and keeps the counts, so a long conversation does not grow in memory.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import ItemKind, ItemRecord
from realtime_cli.protocol.audio_format import SAMPLE_WIDTH, SAMPLES_PER_MS

USER_ROLES = (ItemKind.USER_AUDIO, ItemKind.USER_TEXT)


class InterruptionKind(enum.StrEnum):
    SPEECH_OVERLAP = "speech_overlap"
    CANCEL_REQUEST = "cancel_request"
    MANUAL_CANCEL = "manual_cancel"


@dataclass(slots=True)
class ItemState:
    local_id: str
    seq: int
    kind: ItemKind
    created_at: float  # wall
    server_id: str | None = None
    response_id: str | None = None
    status: str = "in_progress"
    transcript: str = ""
    transcript_final: bool = False
    audio: bytearray = field(default_factory=bytearray)  # held until the journal has it
    released: bool = False  # the journal holds the final audio; none is kept any more
    received_samples: int = 0
    audio_done: bool = False
    played_samples: int = 0
    flushed: bool = False  # barge-in dropped the rest: later audio deltas are ignored
    truncated: bool = False
    audio_end_ms: int | None = None
    completed_at: float | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    output: str | None = None
    duration_ms: float = 0.0  # user speech length
    connection: int = 0  # the connection it arrived on: only that server session knows its id

    @property
    def role(self) -> str:
        if self.kind in USER_ROLES:
            return "user"
        return "assistant" if self.kind is ItemKind.ASSISTANT else "tool"

    @property
    def received_ms(self) -> float:
        return self.received_samples / SAMPLES_PER_MS

    def add_audio(self, pcm: bytes, *, keep: bool) -> None:
        self.received_samples += len(pcm) // SAMPLE_WIDTH
        if keep and not self.released:
            self.audio += pcm

    def fully_heard(self) -> bool:
        return self.audio_done and self.played_samples >= self.received_samples

    def settled(self) -> bool:
        """Nothing about this item's audio can change any more (so the journal's copy is final)."""
        if self.status == "in_progress":
            return False
        return self.kind is not ItemKind.ASSISTANT or self.flushed or self.fully_heard()

    def release_audio(self) -> None:
        self.released = True
        self.audio = bytearray()

    @property
    def heard_text(self) -> str:
        """The part of the transcript the user heard: all of it unless truncated."""
        if not self.truncated or self.audio_end_ms is None:
            return self.transcript
        return cut_transcript(self.transcript, self.audio_end_ms, self.received_ms)

    def history_entry(self) -> HistoryEntry:
        text = self.heard_text if self.kind is ItemKind.ASSISTANT else self.transcript
        return HistoryEntry(
            local_id=self.local_id, kind=self.kind, text=text, call_id=self.call_id,
            name=self.name, arguments=self.arguments or None, output=self.output,
            duration_ms=self.duration_ms, cancelled=self.status == "cancelled",
        )

    def record(self, session_id: str) -> ItemRecord:
        """The journal's view; `audio` is None once released (the journal keeps its copy)."""
        audio: bytes | None = None
        if self.audio:
            audio = bytes(self.audio)
            if self.truncated and self.audio_end_ms is not None:
                audio = audio[: self.audio_end_ms * SAMPLES_PER_MS * SAMPLE_WIDTH]
        is_assistant = self.kind is ItemKind.ASSISTANT
        return ItemRecord(
            session_id=session_id, local_id=self.local_id, seq=self.seq, kind=self.kind,
            role=self.role, server_id=self.server_id, status=self.status,
            transcript=self.transcript or None,
            heard_text=self.heard_text if is_assistant else None,
            truncated=self.truncated, audio_end_ms=self.audio_end_ms,
            audio_ms=self.received_ms if is_assistant else self.duration_ms,
            call_id=self.call_id, name=self.name, arguments=self.arguments or None,
            output=self.output, response_id=self.response_id, created_at=self.created_at,
            completed_at=self.completed_at, audio=audio,
        )


class ItemLedger:
    """Every item of this process's part of the conversation, by local id and by server id."""

    def __init__(self) -> None:
        self.items: dict[str, ItemState] = {}
        self._by_server: dict[str, str] = {}
        self.playing: str | None = None  # local id of the item the speaker is playing
        self.playback_idle = True

    def add(self, item: ItemState) -> ItemState:
        self.items[item.local_id] = item
        if item.server_id:
            self._by_server[item.server_id] = item.local_id
        return item

    def alias(self, item: ItemState, server_id: str) -> None:
        item.server_id = server_id
        self._by_server[server_id] = item.local_id

    def by_server(self, server_id: str) -> ItemState | None:
        local = self._by_server.get(server_id)
        return self.items.get(local) if local else None

    def __getitem__(self, local_id: str) -> ItemState:
        return self.items[local_id]

    def values(self) -> list[ItemState]:
        return list(self.items.values())

    def assistant_unflushed(self) -> list[ItemState]:
        return [i for i in self.items.values() if i.kind is ItemKind.ASSISTANT and not i.flushed]

    def played(self, server_id: str | None, played_samples: int) -> None:
        """Playback progress: moving on to another item means the previous one played out."""
        if server_id is None:
            return
        item = self.by_server(server_id)
        if item is None or item.flushed:
            return
        if self.playing and self.playing != item.local_id:
            prev = self.items[self.playing]
            prev.played_samples = prev.received_samples
        self.playing = item.local_id
        item.played_samples = max(item.played_samples, min(played_samples, item.received_samples))

    def played_out(self) -> None:
        """The speaker went idle: every complete answer was heard to its end, and the journal
        already holds the final audio of each that is settled."""
        for item in self.assistant_unflushed():
            if item.audio_done:
                item.played_samples = item.received_samples
                if item.settled():
                    item.release_audio()


def cut_transcript(transcript: str, audio_end_ms: float, total_ms: float) -> str:
    """The words heard by `audio_end_ms`, assuming speech spreads evenly over the audio.

    Cut at a word boundary, so a half-spoken word counts as not heard.
    """
    if total_ms <= 0 or audio_end_ms <= 0:
        return ""
    if audio_end_ms >= total_ms:
        return transcript
    chars = int(len(transcript) * audio_end_ms / total_ms)
    head = transcript[:chars]
    if chars < len(transcript) and transcript[chars:chars + 1].strip():
        head = re.sub(r"\S*$", "", head)
    return head.rstrip()


def truncation_point(played_samples: int, received_samples: int) -> int | None:
    """`audio_end_ms` for a truncate, or None when it must be skipped (nothing heard, or the
    whole item already played)."""
    heard = min(played_samples, received_samples)
    if heard <= 0 or heard >= received_samples:
        return None
    return heard // SAMPLES_PER_MS
