"""The sound server for device tests (`@pytest.mark.sound`).

`make test` starts it (scripts/run-tests.sh); running pytest by hand, the `sound` fixture starts
it itself and stops it again afterwards. A test is skipped, with the reason, only when no sound
server can run here (no pulseaudio, no libportaudio2): on the project's machines and in CI it
must run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sound-server.sh"


@dataclass(frozen=True)
class SoundServer:
    """Device specs for the two null sinks and their monitors."""

    sink: str = "pulse:rt_sink"
    monitor: str = "pulse:rt_sink.monitor"
    sink48: str = "pulse:rt_sink48"
    monitor48: str = "pulse:rt_sink48.monitor"


def _pulse_seen() -> bool:
    from realtime_cli.audio.devices import list_devices

    return any(d.name == "pulse" for d in list_devices())


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture(scope="session")
def sound_server() -> Iterator[SoundServer]:
    try:
        from realtime_cli.audio.devices import rescan
    except Exception as exc:  # noqa: BLE001 - reported as the skip reason
        pytest.skip(f"no sound server: cannot import the audio layer ({exc})")
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        pytest.skip(f"no sound server: PortAudio is missing ({exc}); run `make system-deps`")
    # Always take a lease (`up` is idempotent), so another run's `down` keeps the server up.
    started = _script("status").returncode != 0
    up = _script("up")
    if up.returncode != 0:
        pytest.skip(f"no sound server can run here: {up.stderr.strip() or up.stdout.strip()}")
    if started:
        rescan()  # PortAudio enumerated before the server existed
    if not _pulse_seen():
        rescan()
        if not _pulse_seen():
            pytest.skip("sound server is up but PortAudio does not list the ALSA `pulse` device")
    yield SoundServer()
    _script("down" if started else "release")


@pytest.fixture
def sound(sound_server: SoundServer) -> SoundServer:
    """The shared server, up. Its null-sink threads run SCHED_RR under a 200 ms RLIMIT_RTTIME,
    and once in a full run on the slow machine PulseAudio vanished between two tests (every
    client at once: "Connection terminated"), failing all the device tests after it. So a
    server found down is started again before the next test: one test may fail, not all."""
    if _script("status").returncode != 0:
        up = _script("up")
        assert up.returncode == 0, f"the sound server died and would not start again: {up.stderr}"
        from realtime_cli.audio.devices import rescan

        rescan()
    return sound_server
