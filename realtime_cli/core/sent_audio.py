"""The recent microphone audio sent on this connection, to cut out each committed user item.

Server VAD reports positions in ms of the connection's input stream
(docs/protocol.md#input-audio-and-vad); keeping what was sent lets the journal store the
user's words exactly as the server heard them. Only the last two minutes are kept.
"""

from __future__ import annotations

from collections import deque

from realtime_cli.protocol.audio_format import SAMPLE_WIDTH, SAMPLES_PER_MS


class SentAudio:
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
