"""Device listing and selection, `rt devices`, and device errors as one-line AudioDeviceErrors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from realtime_cli.audio.capture import MicSource
from realtime_cli.audio.devices import list_devices, open_error, resolve_device
from realtime_cli.audio.playback import SpeakerSink
from realtime_cli.cli import devices_cmd
from realtime_cli.errors import AudioDeviceError

from .conftest import ROOT, SoundServer

pytestmark = pytest.mark.sound


def one_line(exc: pytest.ExceptionInfo[AudioDeviceError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


def test_list_devices_sees_the_sound_server(sound: SoundServer) -> None:
    devices = {d.name: d for d in list_devices()}
    assert {"pulse", "default"} <= devices.keys()
    pulse = devices["pulse"]
    assert pulse.hostapi == "ALSA" and pulse.max_input_channels > 0 and pulse.max_output_channels > 0
    assert sum(d.is_default_output for d in devices.values()) == 1


def test_resolve_by_default_index_and_name(sound: SoundServer) -> None:
    default = resolve_device(None, "output")
    assert default.is_default_output
    pulse = resolve_device("PULSE", "input")
    assert pulse.name == "pulse"
    assert resolve_device(pulse.index, "input") == pulse
    assert resolve_device(str(pulse.index), "output").index == pulse.index
    routed = resolve_device("pulse:rt_sink48", "output")
    assert routed.index == pulse.index and routed.pulse_target == "rt_sink48"


def test_resolve_errors_name_the_candidates(sound: SoundServer) -> None:
    with pytest.raises(AudioDeviceError) as missing:
        resolve_device("no such thing", "output")
    assert "'pulse'" in one_line(missing) and "'default'" in one_line(missing)
    with pytest.raises(AudioDeviceError) as ambiguous:
        resolve_device("u", "input")  # pUlse, defaUlt
    assert "ambiguous" in one_line(ambiguous) and "'pulse'" in one_line(ambiguous)
    with pytest.raises(AudioDeviceError) as index:
        resolve_device(999, "output")
    assert "#999" in one_line(index)
    assert missing.value.exit_code == 4


def test_no_device_at_all_says_so_with_a_hint() -> None:
    """PortAudio lists nothing when no sound server answers (a bare machine)."""
    code = "from realtime_cli.audio.devices import resolve_device; resolve_device(None, 'output')"
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent/pulse", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    last = proc.stderr.strip().splitlines()[-1]
    assert "AudioDeviceError: no audio device; is a sound server running?" in last


def test_rt_devices_plain_and_json(sound: SoundServer) -> None:
    app = typer.Typer()
    app.command("devices")(devices_cmd.devices)
    app.command("noop")(lambda: None)  # keep `devices` a subcommand
    runner = CliRunner()
    plain = runner.invoke(app, ["devices"])
    assert plain.exit_code == 0, plain.output
    lines = plain.output.splitlines()
    assert lines[0] == "Input devices:" and "Output devices:" in lines
    assert any(line.lstrip().startswith("*") and "default" in line for line in lines)
    assert any("pulse" in line and "ALSA" in line and "Hz" in line for line in lines)
    as_json = runner.invoke(app, ["devices", "--json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert {"pulse", "default"} <= {r["name"] for r in rows}
    assert set(rows[0]) >= {"index", "name", "hostapi", "max_input_channels", "default_samplerate"}


async def test_unsupported_format_is_one_line(sound: SoundServer) -> None:
    sink = SpeakerSink(sound.sink, channels=64)
    with pytest.raises(AudioDeviceError) as exc:
        await sink.start()
    assert "unsupported format" in one_line(exc) and "64 ch" in one_line(exc)
    mic = MicSource(sound.monitor, samplerate=1_234_567)
    with pytest.raises(AudioDeviceError) as exc2:
        await mic.start()
    assert "input device" in one_line(exc2)


def test_busy_device_message() -> None:
    """PortAudio's 'Device unavailable' (a device held exclusively) reads as busy."""
    from realtime_cli.audio.devices import DeviceInfo

    info = DeviceInfo(3, "hw:USB", "ALSA", 1, 0, 48000.0)
    exc = open_error(Exception("Device unavailable [PaErrorCode -9985]"), info, "input", 48000, 1)
    assert str(exc).startswith("input device #3 'hw:USB': device busy or unavailable")


@pytest.fixture
def doomed_server(sound: SoundServer) -> Iterator[str]:
    """A private PulseAudio (its own socket) that a test may kill, leaving the shared one alone."""
    assert shutil.which("pulseaudio"), "the sound server runs, so pulseaudio is installed"
    run = Path(tempfile.mkdtemp(prefix="rt-pa-", dir="/tmp"))  # short: a socket path <= 107
    sock = run / "sock"
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(run), "PULSE_STATE_PATH": str(run)}
    subprocess.run(
        [
            "pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
            "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1",
            "-L", "module-null-sink sink_name=doomed rate=24000 channels=1",
        ],
        env=env, check=True, capture_output=True, timeout=10,
    )  # fmt: skip
    server = f"unix:{sock}"
    yield server
    subprocess.run(["pactl", "exit"], env={**env, "PULSE_SERVER": server}, capture_output=True)
    shutil.rmtree(run, ignore_errors=True)


async def test_device_lost_mid_stream_raises_one_line(doomed_server: str) -> None:
    os.environ["PULSE_SERVER"] = doomed_server  # read by the pulse ALSA plugin at open
    try:
        mic, sink = MicSource("pulse"), SpeakerSink("pulse")
        await mic.start()
        await sink.start()
    finally:
        del os.environ["PULSE_SERVER"]
    try:
        await mic.read()
        sink.play("a", b"\x00\x10" * 4800)
        env = {**os.environ, "PULSE_SERVER": doomed_server}
        killer = await asyncio.create_subprocess_exec("pactl", "exit", env=env)
        assert await killer.wait() == 0
        with pytest.raises(AudioDeviceError) as lost:
            async with asyncio.timeout(5):
                while True:
                    await mic.read()
        assert "stopped delivering audio" in one_line(lost)
        async with asyncio.timeout(2):
            while sink.error is None:  # noqa: ASYNC110 - set from PortAudio's thread
                await asyncio.sleep(0.01)
        with pytest.raises(AudioDeviceError) as lost_out:
            sink.play("a", b"\x00\x10" * 480)
        assert "stopped playing" in one_line(lost_out)
        assert sink.status().played_samples <= 4800  # status keeps answering
        sink.stop()  # the session's end on a lost device: nothing to stop, and no error
    finally:
        await mic.close()
        await sink.close()
