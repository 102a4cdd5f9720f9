"""The pure playback queue: prebuffer, spans, underruns, fades, flush; and heard positions."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_cli.audio.jitter import JitterBuffer, PlayTimeline, Span, fade

RATE = 24_000
BLOCK = 480  # 20 ms
FADE = 120  # 5 ms


def tone(n: int, amp: int = 10_000, offset: int = 0) -> np.ndarray:
    """A constant-amplitude signal (no zero crossings to hide a click)."""
    return np.full(n, amp, dtype=np.int16) + np.int16(offset)


def ramp(n: int, start: int = 1) -> np.ndarray:
    """Distinct values, so each sample's origin is visible in a pulled block."""
    return np.arange(start, start + n, dtype=np.int16)


def buf(prebuffer_ms: float = 80.0) -> JitterBuffer:
    return JitterBuffer(RATE, prebuffer_ms=prebuffer_ms, fade_ms=5.0)


def drain(jb: JitterBuffer, blocks: int) -> tuple[np.ndarray, list[Span]]:
    """Pull `blocks` blocks; spans in stream offsets, contiguous ones of one item merged."""
    out: list[np.ndarray] = []
    spans: list[Span] = []
    for k in range(blocks):
        pulled = jb.pull(BLOCK)
        out.append(pulled.block)
        for s in pulled.spans:
            at = s.block_offset + k * BLOCK
            last = spans[-1] if spans else None
            if (
                last
                and last.item_id == s.item_id
                and last.block_offset + last.frames == at
                and last.item_offset + last.frames == s.item_offset
            ):
                spans[-1] = Span(s.item_id, last.item_offset, last.frames + s.frames, last.block_offset)
            else:
                spans.append(Span(s.item_id, s.item_offset, s.frames, at))
    return np.concatenate(out), spans


class TestPrebuffer:
    def test_waits_for_prebuffer_then_plays_everything_in_order(self) -> None:
        jb = buf(80)
        jb.push("a", ramp(1440))  # 60 ms < 80 ms
        first = jb.pull(BLOCK)
        assert not first.block.any() and first.spans == () and not jb.playing
        jb.push("a", ramp(960, start=1441))  # now 100 ms
        jb.end_item("a")
        out, spans = drain(jb, 5)
        assert np.array_equal(out, ramp(2400))
        assert spans == [Span("a", 0, 2400, 0)]
        assert jb.queued_frames == 0 and not jb.playing

    def test_a_complete_item_shorter_than_the_prebuffer_plays_at_once(self) -> None:
        jb = buf(120)
        jb.push("short", ramp(600))
        assert not jb.pull(BLOCK).spans
        jb.end_item("short")
        out, spans = drain(jb, 2)
        assert np.array_equal(out[:600], ramp(600)) and not out[600:].any()
        assert spans == [Span("short", 0, 600, 0)]

    def test_next_item_implies_the_previous_ended(self) -> None:
        jb = buf(60)
        jb.push("a", ramp(500))
        jb.push("b", ramp(1500, start=1000))
        out, spans = drain(jb, 4)
        assert spans == [Span("a", 0, 500, 0), Span("b", 0, 1420, 500)]
        assert np.array_equal(out[:500], ramp(500))

    def test_spans_continue_item_offsets_across_blocks(self) -> None:
        jb = buf(60)
        jb.push("a", ramp(4800))
        jb.end_item("a")
        spans = [jb.pull(BLOCK).spans for _ in range(3)]
        assert spans == [(Span("a", 0, 480, 0),), (Span("a", 480, 480, 0),), (Span("a", 960, 480, 0),)]

    def test_leftover_of_an_ended_item_does_not_start_the_next_one_unbuffered(self) -> None:
        jb = buf(60)
        jb.push("a", tone(1500))
        drain(jb, 3)  # "a" starves, its end never announced; < 5 ms of it stays queued
        assert 0 < jb.queued_frames < FADE and not jb.playing
        jb.push("b", tone(480))  # ends "a"; "b" is open and far below the prebuffer
        assert not jb.pull(BLOCK).spans
        jb.push("b", tone(1920))
        assert jb.pull(BLOCK).spans[0].item_id == "a"
        assert jb.underruns == 0

    def test_prebuffer_range_is_checked(self) -> None:
        with pytest.raises(ValueError):
            JitterBuffer(RATE, prebuffer_ms=-1)


class TestUnderrun:
    def test_starving_item_fades_out_within_the_block_and_rebuffers(self) -> None:
        jb = buf(60)
        jb.push("a", tone(1440 + 200))  # 3 blocks + 200 frames
        out, _ = drain(jb, 4)
        # block 3 would leave 200 - ... < block + fade: the buffer ends that block with a fade
        audio = out[out != 0]
        assert audio.size == 1640
        tail = out[1640 - FADE : 1640].astype(float)
        assert np.all(np.diff(tail) <= 0) and tail[-1] < 10_000 * 0.01
        assert not out[1640:].any()
        assert not jb.playing and jb.underruns == 0  # counted only if the item continues

    def test_gap_inside_an_item_counts_one_underrun_and_resumes_with_fade_in(self) -> None:
        jb = buf(60)
        jb.push("a", tone(1600))
        drain(jb, 4)
        assert not jb.playing and jb.underruns == 0
        jb.push("a", tone(2000))
        assert jb.underruns == 1
        out, spans = drain(jb, 5)
        head = out[:FADE].astype(float)
        assert head[0] < 10_000 * 0.01 and np.all(np.diff(head) >= 0)
        assert spans[0] == Span("a", 1600, 1920, 0) and jb.queued_frames == 80  # starving again

    def test_no_block_ends_at_full_amplitude_into_silence(self) -> None:
        """Whatever the chunk sizes, audio never stops without a fade (no click)."""
        rng = np.random.default_rng(7)
        for _ in range(50):
            jb = buf(60)
            jb.push("a", tone(int(rng.integers(1440, 5000))))
            out, _ = drain(jb, 15)
            nz = np.flatnonzero(out)
            assert out[nz[-1]] < 10_000 * 0.02

    def test_ended_item_runs_out_without_underrun_or_fade(self) -> None:
        jb = buf(60)
        jb.push("a", tone(1500))
        jb.end_item("a")
        out, _ = drain(jb, 5)
        assert np.array_equal(out[:1500], tone(1500)) and jb.underruns == 0


class TestFlush:
    def test_flush_keeps_only_a_faded_tail_of_the_playing_item(self) -> None:
        jb = buf(60)
        jb.push("a", tone(24_000))
        drain(jb, 2)
        jb.flush()
        assert jb.queued_frames == FADE
        pulled = jb.pull(BLOCK)
        assert pulled.spans == (Span("a", 960, FADE, 0),)
        tail = pulled.block[:FADE].astype(float)
        assert tail[0] > 9_000 and tail[-1] < 10_000 * 0.01 and np.all(np.diff(tail) <= 0)
        assert np.array_equal(tail, np.round(10_000 * fade(FADE, out=True)))
        assert not pulled.block[FADE:].any()
        assert not jb.pull(BLOCK).block.any() and not jb.playing

    def test_flushed_items_stay_dead_and_new_items_play(self) -> None:
        jb = buf(60)
        jb.push("a", tone(4800))
        jb.push("b", tone(4800))
        drain(jb, 1)
        jb.flush()
        drain(jb, 1)
        jb.push("a", tone(4800))  # deltas still in flight after the barge-in
        jb.push("b", tone(4800))
        assert jb.queued_frames == 0
        jb.push("c", ramp(2000))
        jb.end_item("c")
        out, spans = drain(jb, 5)
        assert spans == [Span("c", 0, 2000, 0)] and np.array_equal(out[:2000], ramp(2000))

    def test_flush_without_tail_drops_everything_at_once(self) -> None:
        """For a consumer that dropped its own buffer: the cut is where it stopped, no tail."""
        jb = buf(60)
        jb.push("a", tone(24_000))
        drain(jb, 2)
        jb.flush(tail=False)
        assert jb.queued_frames == 0 and not jb.playing
        pulled = jb.pull(BLOCK)
        assert pulled.spans == () and not pulled.block.any()
        jb.push("a", tone(480))  # late audio of the flushed item
        assert jb.queued_frames == 0

    def test_flush_while_prebuffering_is_silent(self) -> None:
        jb = buf(80)
        jb.push("a", tone(1000))
        jb.flush()
        assert jb.queued_frames == 0
        assert not jb.pull(BLOCK).block.any()


class TestTimeline:
    def test_position_interpolates_from_the_dac_time(self) -> None:
        tl = PlayTimeline(RATE)
        assert tl.position(0.0) == (None, 0)
        tl.record(1.000, (Span("a", 0, 480, 0),))
        tl.record(1.020, (Span("a", 480, 480, 0),))
        assert tl.position(0.999) == (None, 0)
        assert tl.position(1.010) == ("a", 240)
        assert tl.position(1.025) == ("a", 600)
        assert tl.position(2.0) == ("a", 960)
        assert not tl.pending()

    def test_item_change_inside_a_block(self) -> None:
        tl = PlayTimeline(RATE)
        tl.record(5.0, (Span("a", 4000, 100, 0), Span("b", 0, 380, 100)))
        assert tl.position(5.0 + 50 / RATE) == ("a", 4050)
        assert tl.position(5.0 + 200 / RATE) == ("b", 100)
        assert tl.pending()

    def test_silence_after_an_item_keeps_its_final_position(self) -> None:
        tl = PlayTimeline(RATE)
        tl.record(1.0, (Span("a", 0, 200, 0),))
        tl.record(1.02, ())
        assert tl.position(3.0) == ("a", 200)

    def test_discard_after_forgets_what_a_stopped_device_never_played(self) -> None:
        tl = PlayTimeline(RATE)
        tl.record(1.0, (Span("a", 0, 480, 0),))
        tl.record(1.02, (Span("a", 480, 480, 0),))
        tl.discard_after(1.01)
        assert tl.position(9.0) == ("a", 480)

    def test_cut_keeps_only_what_was_heard_by_then(self) -> None:
        """A device buffer dropped at 1.01 s: half of the first block was heard, none of the
        second, however late the position is read."""
        tl = PlayTimeline(RATE)
        tl.record(1.0, (Span("a", 0, 480, 0),))
        tl.record(1.02, (Span("a", 480, 480, 0),))
        tl.cut(1.01)
        assert tl.position(9.0) == ("a", 240)
        assert not tl.pending()
        tl.record(9.5, (Span("b", 0, 480, 0),))  # what plays after the restart counts again
        assert tl.position(9.51) == ("b", 240)

    def test_cut_before_anything_played_leaves_nothing_heard(self) -> None:
        tl = PlayTimeline(RATE)
        tl.record(1.0, (Span("a", 0, 480, 0),))
        tl.cut(0.99)
        assert tl.position(9.0) == (None, 0)

    def test_buffer_and_timeline_together_track_latency(self) -> None:
        """A consumer 50 ms ahead of the listener: position lags what was pulled by 50 ms."""
        jb, tl = buf(60), PlayTimeline(RATE)
        jb.push("a", tone(24_000))
        for k in range(10):
            tl.record(k * 0.02 + 0.05, jb.pull(BLOCK).spans)  # pulled at k*20 ms, heard 50 ms later
        assert tl.position(0.2) == ("a", 3600)  # 200 ms pulled, 150 ms heard
