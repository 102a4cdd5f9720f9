"""The simulated room's own process: a room that cannot start says why, at once."""

from __future__ import annotations

import pytest

from realtime_cli.testing.echo_room import EchoRoom


def test_a_room_without_a_sound_server_fails_with_the_childs_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/rt-test")
    room = EchoRoom(delay_ms=120)
    with pytest.raises(RuntimeError, match="did not start.*no audio device"):
        room.start()
    room.stop()  # stopping a room that never started is harmless
