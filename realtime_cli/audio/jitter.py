"""The playback queue between the network and the device clock, and what the listener has heard.

Pure: no threads, no clock, no device. Two pieces:

`JitterBuffer` holds mono int16 frames of assistant items at one rate (the device's). The
consumer pulls fixed blocks (`pull(n)`); the result says which frames of which item went where
in the block (`Span`s). Rules:

* Prebuffer: from silence, playback starts once `prebuffer_ms` is queued, or at once when all
  queued audio is complete (its item ended: `end_item`, or a later item began), so a short item
  still plays.
* Underrun: when an item whose end has not been announced would run dry within the next block,
  the block ends with a fade-out and the buffer goes back to prebuffering; playback resumes
  with a fade-in. An underrun is counted when audio for the starved item arrives again (a gap
  inside an item), so an item whose end was never announced does not count as one.
* Flush (barge-in): everything queued is dropped except the next `fade_ms` of the item being
  played, which is faded to zero: the voice stops within one block, without a click. Flushed
  items are dead: later audio for them is ignored (deltas still in flight after a barge-in).
  A consumer that has also dropped what it had pulled but not played (a device buffer) flushes
  without the tail (`flush(tail=False)`): the listener's cut is where the device stopped.

`PlayTimeline` turns pulled spans into "heard" positions: each span is recorded with the time
its first frame reaches the listener (for a device, the callback's DAC time), and
`position(now)` counts the frames of the current item whose time has come.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]


@dataclass(slots=True)
class Span:
    """`frames` frames of `item_id`, starting at frame `item_offset` of that item, were placed at
    `block_offset` in a pulled block. (Not frozen, like `Pulled`: a frozen dataclass costs three
    times as much to make, and the speaker's callback makes them 200 times a second.)"""

    item_id: str
    item_offset: int
    frames: int
    block_offset: int


@dataclass(slots=True)
class Pulled:
    block: Int16Array
    spans: tuple[Span, ...]


class _Chunk:
    __slots__ = ("item_id", "data", "pos")

    def __init__(self, item_id: str, data: Int16Array) -> None:
        self.item_id = item_id
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


FADE_MS = 3.0  # long enough that a cut voice does not click, short enough not to delay the stop


def fade(frames: int, *, out: bool) -> npt.NDArray[np.float64]:
    """Raised-cosine gain ramp of `frames` values, from 1 to ~0 (out) or ~0 to 1 (in)."""
    if frames <= 0:
        return np.ones(0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(frames) + 1) / (frames + 1))
    return ramp[::-1] if out else ramp


def _apply(samples: Int16Array, gain: npt.NDArray[np.float64]) -> None:
    samples[:] = np.round(samples.astype(np.float64) * gain).astype(np.int16)


class JitterBuffer:
    def __init__(self, rate: int, *, prebuffer_ms: float, fade_ms: float = FADE_MS) -> None:
        if not 0 <= prebuffer_ms <= 1000:
            raise ValueError(f"prebuffer_ms must be within 0..1000, not {prebuffer_ms}")
        self.rate = rate
        self.prebuffer_frames = round(prebuffer_ms * rate / 1000)
        self.fade_frames = max(1, round(fade_ms * rate / 1000))
        self._chunks: deque[_Chunk] = deque()
        self._queued = 0
        self._ended: set[str] = set()  # items whose end is known (announced or implied)
        self._dead: set[str] = set()  # flushed items
        self._offsets: dict[str, int] = {}  # frames pulled per item
        self._last_item: str | None = None  # most recently pushed item
        self._playing = False
        self._fade_in = False
        self._starved: str | None = None
        self.underruns = 0

    @property
    def queued_frames(self) -> int:
        return self._queued

    @property
    def playing(self) -> bool:
        return self._playing

    def push(self, item_id: str, samples: Int16Array) -> None:
        if item_id in self._dead or item_id in self._ended and item_id != self._last_item:
            return
        if self._last_item is not None and item_id != self._last_item:
            self._ended.add(self._last_item)  # items play in order: a new one ends the last
        self._last_item = item_id
        if len(samples) == 0:
            return
        if self._starved == item_id:
            self.underruns += 1
        self._starved = None
        self._chunks.append(_Chunk(item_id, np.array(samples, dtype=np.int16)))
        self._queued += len(samples)

    def end_item(self, item_id: str) -> None:
        """The item's audio is complete: it may start below the prebuffer and end without fade."""
        if item_id not in self._dead:
            self._ended.add(item_id)
        if self._starved == item_id:
            self._starved = None

    def flush(self, *, tail: bool = True) -> None:
        """Drop everything queued; keep only a faded tail of the item being heard (none with
        `tail=False`)."""
        kept: _Chunk | None = None
        if tail and self._playing and self._chunks:
            kept = self._take_tail(self._chunks[0].item_id)
        self._dead.update(c.item_id for c in self._chunks)
        if self._last_item is not None and self._last_item not in self._ended:
            self._dead.add(self._last_item)
        self._chunks.clear()
        self._queued = 0
        self._starved = None
        self._fade_in = False
        self._playing = kept is not None
        if kept is not None:
            self._ended.add(kept.item_id)  # the tail plays out without prebuffer or fade
            self._chunks.append(kept)
            self._queued = kept.left

    def _take_tail(self, item_id: str) -> _Chunk:
        parts: list[Int16Array] = []
        need = self.fade_frames
        for chunk in self._chunks:
            if chunk.item_id != item_id or need == 0:
                break
            part = chunk.data[chunk.pos : chunk.pos + need]
            parts.append(part)
            need -= len(part)
        data = np.concatenate(parts).astype(np.int16)
        _apply(data, fade(len(data), out=True))
        return _Chunk(item_id, data)

    def pull(self, n: int) -> Pulled:
        """The next `n` frames for the device: audio, or silence while (pre)buffering."""
        block = np.zeros(n, dtype=np.int16)
        if not self._playing and not self._ready():
            return Pulled(block, ())
        self._playing = True
        take = n
        starving = self._tail_open() and self._queued < n + self.fade_frames
        if starving:
            take = min(n, self._queued)
        spans = self._fill(block, take)
        if self._fade_in and take:
            k = min(self.fade_frames, take)
            _apply(block[:k], fade(k, out=False))
            self._fade_in = False
        if starving:
            k = min(self.fade_frames, take)
            _apply(block[take - k : take], fade(k, out=True))
            self._playing = False
            self._fade_in = True
            self._starved = self._last_item
        elif not self._chunks:
            self._playing = False  # the queued items ended: the next one prebuffers again
        return Pulled(block, spans)

    def _ready(self) -> bool:
        if not self._chunks:
            return False
        # Complete audio (the last queued item has ended) needs no cushion; an open item does.
        return self._queued >= max(self.prebuffer_frames, 1) or not self._tail_open()

    def _tail_open(self) -> bool:
        """Whether the last queued audio belongs to an item whose end is not known yet."""
        return bool(self._chunks) and self._chunks[-1].item_id not in self._ended

    def _fill(self, block: Int16Array, take: int) -> tuple[Span, ...]:
        spans: list[Span] = []
        filled = 0
        while filled < take and self._chunks:
            chunk = self._chunks[0]
            k = min(take - filled, chunk.left)
            block[filled : filled + k] = chunk.data[chunk.pos : chunk.pos + k]
            offset = self._offsets.get(chunk.item_id, 0)
            if spans and spans[-1].item_id == chunk.item_id:
                last = spans.pop()
                spans.append(Span(last.item_id, last.item_offset, last.frames + k, last.block_offset))
            else:
                spans.append(Span(chunk.item_id, offset, k, filled))
            self._offsets[chunk.item_id] = offset + k
            chunk.pos += k
            self._queued -= k
            filled += k
            if chunk.left == 0:
                self._chunks.popleft()
        return tuple(spans)


@dataclass(slots=True)
class _Entry:
    start: float
    item_id: str
    item_offset: int
    frames: int


class PlayTimeline:
    """Which frame of which item the listener has heard by a given time.

    `record(start, spans)`: the block whose spans these are starts reaching the listener at
    `start` (seconds, any monotonic clock). `position(now)`: (item_id, frames of it heard), the
    last item heard so far; (None, 0) before anything. `now` must not go backwards.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._entries: deque[_Entry] = deque()
        self._item: str | None = None
        self._heard = 0

    def record(self, start: float, spans: tuple[Span, ...]) -> None:
        for s in spans:
            at = start + s.block_offset / self.rate
            self._entries.append(_Entry(at, s.item_id, s.item_offset, s.frames))

    def position(self, now: float) -> tuple[str | None, int]:
        while self._entries and self._entries[0].start <= now:
            e = self._entries[0]
            heard = min(e.frames, int((now - e.start) * self.rate + 1e-6))
            self._item, self._heard = e.item_id, e.item_offset + heard
            if heard < e.frames:
                break
            self._entries.popleft()
        return self._item, self._heard

    def pending(self) -> bool:
        """Frames recorded but not yet heard as of the last `position` call."""
        return bool(self._entries)

    def discard_after(self, when: float) -> None:
        """Forget spans that start after `when` (a device that stopped never plays them)."""
        while self._entries and self._entries[-1].start > when:
            self._entries.pop()

    def cut(self, when: float) -> None:
        """Forget what would have been heard after `when` (a device buffer dropped then)."""
        self.discard_after(when)
        if self._entries:
            e = self._entries[-1]
            e.frames = min(e.frames, max(0, int((when - e.start) * self.rate + 1e-6)))
