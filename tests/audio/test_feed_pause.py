"""A paused feed hands out silence and keeps its place; resuming plays on from there."""

from __future__ import annotations

import numpy as np

from realtime_cli.audio.feed import PlaybackFeed


def test_pause_holds_the_queue_and_the_position_and_resume_goes_on() -> None:
    feed = PlaybackFeed(24_000, prebuffer_ms=60)
    feed.play("a", np.full(24_000, 1000, dtype=np.int16).tobytes())  # one second
    feed.end_of_item("a")
    assert feed.pull(2400, 0.0).any()  # 100 ms heard
    feed.pause()
    for i in range(20):  # a second passes while paused
        assert not feed.pull(2400, 0.1 + 0.1 * i).any()
    status = feed.status(2.0)
    assert (status.item_id, status.played_samples, status.idle) == ("a", 2400, False)
    feed.resume()
    heard = sum(int(feed.pull(2400, 2.1 + 0.1 * i).astype(bool).sum()) for i in range(9))
    assert heard == 24_000 - 2400  # the rest, every sample of it
    assert feed.status(3.1).idle
