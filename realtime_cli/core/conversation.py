"""The conversation as the core tracks it: items, the response in flight, what was heard.

Truncation arithmetic lives here (§3): the truncation point is the audio of an item that
actually reached the listener (samples played ÷ 24 at 24 kHz, from playback-progress inputs,
never the wall clock), clamped to the audio received.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from dataclasses import dataclass, field

from realtime_cli.audio.pcm import SAMPLE_WIDTH, SAMPLES_PER_MS
from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import ItemKind, ItemRecord

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
    audio: bytearray = field(default_factory=bytearray)
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

    @property
    def role(self) -> str:
        if self.kind in USER_ROLES:
            return "user"
        return "assistant" if self.kind is ItemKind.ASSISTANT else "tool"

    @property
    def received_samples(self) -> int:
        return len(self.audio) // SAMPLE_WIDTH

    @property
    def received_ms(self) -> float:
        return self.received_samples / SAMPLES_PER_MS

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
            duration_ms=self.duration_ms,
        )

    def record(self, session_id: str, *, with_audio: bool) -> ItemRecord:
        audio: bytes | None = None
        if with_audio and self.audio:
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


@dataclass(slots=True)
class ResponseState:
    response_id: str
    started_at: float  # monotonic
    turn_end_at: float | None  # end of the user's turn, for latency
    item_ids: list[str] = field(default_factory=list)  # local ids in output order
    first_audio_at: float | None = None
    interrupted: bool = False
    suppressed: bool = False  # answer to a stop phrase: cancelled, never played
    tool_calls: list[str] = field(default_factory=list)  # call ids
    last_event_at: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        if self.first_audio_at is None or self.turn_end_at is None:
            return None
        return (self.first_audio_at - self.turn_end_at) * 1000.0


class SentAudio:
    """The recent microphone audio sent on this connection, to cut out each committed user item.

    Server VAD reports positions in ms of the connection's input stream (§1); keeping what we
    sent lets the journal store the user's words exactly as the server heard them.
    """

    def __init__(self, keep_ms: float = 120_000) -> None:
        self._chunks: deque[tuple[float, bytes]] = deque()
        self._keep_ms = keep_ms
        self.total_ms = 0.0

    def reset(self) -> None:
        self._chunks.clear()
        self.total_ms = 0.0

    def append(self, pcm: bytes) -> float:
        ms = len(pcm) / SAMPLE_WIDTH / SAMPLES_PER_MS
        self._chunks.append((self.total_ms, pcm))
        self.total_ms += ms
        while self._chunks and self._chunks[0][0] < self.total_ms - self._keep_ms:
            self._chunks.popleft()
        return ms

    def slice(self, start_ms: float, end_ms: float) -> bytes:
        """The audio sent between two stream positions. Walks back from the newest chunk, so
        the cost is the length of the utterance, not of the whole kept history."""
        parts: list[bytes] = []
        for at, pcm in reversed(self._chunks):
            chunk_end = at + len(pcm) / SAMPLE_WIDTH / SAMPLES_PER_MS
            if chunk_end <= start_ms:
                break
            if at >= end_ms:
                continue
            lo = max(0, int((start_ms - at) * SAMPLES_PER_MS)) * SAMPLE_WIDTH
            hi = min(len(pcm), int((end_ms - at) * SAMPLES_PER_MS) * SAMPLE_WIDTH)
            parts.append(pcm[lo:hi])
        return b"".join(reversed(parts))


def is_stop_phrase(transcript: str, phrases: tuple[str, ...]) -> bool:
    """True when the whole utterance is a stop phrase ("stop", "wait!", "okay stop")."""
    words = re.sub(r"[^\w\s']", " ", transcript.lower()).split()
    if not words or len(words) > 4:
        return False
    text = " ".join(words)
    for phrase in phrases:
        p = phrase.lower().strip()
        if text == p or text.endswith(" " + p) or text.startswith(p + " "):
            return True
    return False
