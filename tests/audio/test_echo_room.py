"""The simulated room's own process: a room that cannot start says why, at once; a room that
skipped, stalled or stopped reaching rt's microphone recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.testing.cpu import process_cpu_s
from realtime_cli.testing.echo_room import RESTARTED, STREAM_RESTARTED, EchoRoom, sink_inputs
from realtime_cli.testing.monitor import MonitorRecorder

from .conftest import SoundServer


def test_a_room_without_a_sound_server_fails_with_the_childs_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/rt-test")
    room = EchoRoom(delay_ms=120)
    with pytest.raises(RuntimeError, match="did not start.*no audio device"):
        room.start()
    room.stop()  # stopping a room that never started is harmless


def test_stopping_gives_up_on_a_room_that_is_still_starting(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """A start waits up to 30 s for the room's stream, three times over; `stop` (which waits
    for the watch that may be restarting the room) makes it give up at once instead."""
    never = tmp_path / "never-starts"
    never.write_text("#!/bin/sh\nexec cat >/dev/null\n")  # ends only when its stdin does
    never.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(never))
    room = EchoRoom(delay_ms=120, watch=False)
    failed: list[BaseException] = []

    def start() -> None:
        try:
            room._start_child()
        except RuntimeError as exc:
            failed.append(exc)

    starting = threading.Thread(target=start)
    starting.start()
    room._watcher = starting  # as when the watch is restarting the room: stop waits for it
    time.sleep(0.5)
    assert starting.is_alive()  # waiting for a stream that will not come
    room.stop()
    starting.join(EchoRoom.START_TIMEOUT_S * EchoRoom.START_TRIES)
    assert len(failed) == 1 and "stopped while its stream was starting" in str(failed[0]), failed


def _cpu_seconds(pid: int) -> float:
    used = process_cpu_s(pid)
    assert used is not None, "the room's process is gone"
    return used


@pytest.mark.sound
def test_a_room_that_skipped_does_not_keep_a_core_busy(sound: SoundServer) -> None:
    """Stalled long enough to underrun (as a busy machine stalls it), the duplex stream's thread
    polls the pulse plugin without end, a whole core at the room's raised priority. The room
    restarts its stream then and says so; afterwards it is back to its own small share. Not
    watched: the stall silences rt's microphone for long enough that the watch would start a
    fresh room, and this is about the room's own stream."""
    with EchoRoom(delay_ms=120, watch=False) as room:
        child = room._child
        assert child is not None
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(0.3)  # the stall that makes the room underrun, not a wait for a result
        os.kill(child.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while not any(STREAM_RESTARTED in status for _, status in room.glitches):
            assert time.monotonic() < deadline, f"no restart; the room reported {room.glitches}"
            time.sleep(0.1)
        before, start = _cpu_seconds(child.pid), time.monotonic()
        time.sleep(3.0)  # a window to measure the room's CPU share over
        share = (_cpu_seconds(child.pid) - before) / (time.monotonic() - start)
        assert share < 0.5, f"the room still takes {share:.0%} of a core ({room.glitches})"


@pytest.mark.sound
def test_a_room_whose_stream_stalls_restarts_it(sound: SoundServer) -> None:
    """A room whose callbacks stop coming (here: what it listens to, rt's speaker's monitor,
    suspended) says so and restarts its stream once they can come again, rather than leaving
    rt's microphone silent for the rest of a run. Not watched, as above."""
    with EchoRoom(delay_ms=120, watch=False) as room:
        subprocess.run(["pactl", "suspend-sink", "rt_sink48", "1"], check=True)
        try:
            deadline = time.monotonic() + 30
            while not any("stalled" in status for _, status in room.glitches):
                assert time.monotonic() < deadline, f"no stall seen; the room reported {room.glitches}"
                time.sleep(0.1)
        finally:
            subprocess.run(["pactl", "suspend-sink", "rt_sink48", "0"], check=True)
        assert room._child is not None and room._child.poll() is None, "the room's process ended"


@pytest.mark.sound
def test_a_room_whose_output_stops_reaching_the_microphone_is_restarted(sound: SoundServer) -> None:
    """The room's playback moved to a sink nobody hears (its callbacks go on, nothing reaches
    rt's microphone: what long real-device runs saw twice): the watch on the microphone notices
    the digital silence, says what PulseAudio reported, and a fresh room makes the microphone
    hear the room's noise again."""
    void = subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=rt_void"],
                          capture_output=True, text=True, check=True).stdout.strip()
    try:
        _restarted_after_losing_its_output(sound)
    finally:
        subprocess.run(["pactl", "unload-module", void], check=False)


def _restarted_after_losing_its_output(sound: SoundServer) -> None:
    with EchoRoom(delay_ms=120) as room:
        first = room.pid
        assert first is not None
        streams = sink_inputs(first)
        assert streams, f"the room (pid {first}) has no playback stream"
        index = streams[0].split("#", 1)[1].split()[0]
        subprocess.run(["pactl", "move-sink-input", index, "rt_void"], check=True)
        deadline = time.monotonic() + 30
        while not any(RESTARTED in status for _, status in room.glitches) or room.pid in (None, first):
            assert time.monotonic() < deadline, f"no restart; the room reported {room.glitches}"
            time.sleep(0.1)
        said = next(status for _, status in room.glitches if RESTARTED in status)
        assert "Sink: " in said and "Corked: no" in said, said
        with MonitorRecorder(sound.monitor) as rec:
            deadline = time.monotonic() + 30
            while len(rec.signal()) < 24_000:
                assert time.monotonic() < deadline, "the microphone's monitor delivered nothing"
                time.sleep(0.1)
        heard = rec.signal()[-12_000:]  # the last half second: the new room's noise, whole
        assert np.count_nonzero(heard) > 0.95 * len(heard), "the microphone is still silent"
        assert sum(RESTARTED in status for _, status in room.glitches) == 1, room.glitches
