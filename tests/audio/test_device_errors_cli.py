"""Device errors through the real CLI (`rt talk`, `rt devices`, `rt sessions`), as a user meets them.

Every failure is one line on stderr starting with `rt:`, a non-zero exit (4, AudioDeviceError),
no traceback and no C-library chatter. The device-lost case runs `rt talk` on a PRIVATE
PulseAudio (its own socket and null sinks, like test_devices.py's doomed server) and kills that
daemon with SIGKILL in the middle of an answer: the shared test sound server is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT, SoundServer

pytestmark = pytest.mark.sound

_RT_SCRIPT = Path(sys.executable).with_name("rt")
RT = [str(_RT_SCRIPT)] if _RT_SCRIPT.exists() else [sys.executable, "-m", "realtime_cli"]
DEAD_URL = "ws://127.0.0.1:9/v1/realtime"  # never reached: devices open before the connection
NO_SERVER = "unix:/nonexistent/rt-test/pulse"
ANSWER = "The weather is sunny and warm today, with a light breeze from the west."


def rt(*args: str, env: dict[str, str] | None = None,
       timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def assert_one_error_line(proc: subprocess.CompletedProcess[str], pattern: str) -> str:
    """Exit 4, nothing but one `rt: ...` line on stderr, matching `pattern`."""
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("rt: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert proc.returncode == 4, (proc.returncode, err)
    return lines[0]


# ------------------------------------------------------------------ device selection


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--input-device", "nosuchdevice"],
         r"^rt: no input device matches 'nosuchdevice'; input devices: #\d+ 'pulse'"),
        (["--output-device", "u"],  # pUlse, defaUlt
         r"^rt: output device 'u' is ambiguous: .*'pulse'.*'default'.*; use an index$"),
        (["--input-device", "999"], r"^rt: no audio device #999; devices: #\d+ 'pulse'"),
        (["--output-device", "pulse:nosuchsink"],
         r"^rt: output device #\d+ 'pulse' -> nosuchsink: .*nosuchsink"),
    ],
    ids=["unknown-name", "ambiguous-name", "index-out-of-range", "unknown-pulse-sink"],
)
def test_bad_device_is_one_line(sound: SoundServer, tmp_path: Path, flags: list[str],
                                pattern: str) -> None:
    proc = rt("talk", "--url", DEAD_URL, "--plain", "--data-dir", str(tmp_path), *flags)
    assert_one_error_line(proc, pattern)
    assert proc.stdout == ""  # failed before the session began: nothing to show...
    stored = rt("sessions", "list", "--json", "--data-dir", str(tmp_path))
    assert stored.returncode == 0 and json.loads(stored.stdout) == []  # ...or to store


def test_no_sound_server_is_one_line(tmp_path: Path) -> None:
    """A machine with no sound server: PortAudio lists no device at all."""
    env = {"PULSE_SERVER": NO_SERVER}
    proc = rt("talk", "--url", DEAD_URL, "--plain", "--data-dir", str(tmp_path), env=env)
    assert_one_error_line(proc, r"^rt: no audio device; is a sound server running\?")
    listing = rt("devices", env=env)
    assert_one_error_line(listing, r"^rt: no audio device; is a sound server running\?")
    as_json = rt("devices", "--json", env=env)
    assert (as_json.returncode, as_json.stdout.strip(), as_json.stderr) == (0, "[]", "")


# ------------------------------------------------------------------ rt devices


def test_rt_devices_lists_pulse_and_marks_defaults(sound: SoundServer) -> None:
    as_json = rt("devices", "--json")
    assert as_json.returncode == 0 and as_json.stderr == "", as_json.stderr
    rows = json.loads(as_json.stdout)
    by_name = {r["name"]: r for r in rows}
    assert {"pulse", "default"} <= by_name.keys()
    assert by_name["pulse"]["hostapi"] == "ALSA"
    assert by_name["pulse"]["max_input_channels"] > 0 and by_name["pulse"]["max_output_channels"] > 0
    default_in = [r for r in rows if r["is_default_input"]]
    default_out = [r for r in rows if r["is_default_output"]]
    assert len(default_in) == 1 and len(default_out) == 1, rows

    plain = rt("devices")
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0] == "Input devices:" and "Output devices:" in lines
    split = lines.index("Output devices:")
    sections = {"input": lines[1:split], "output": lines[split + 1 : -1]}
    assert lines[-1].startswith("* default.")
    for kind, default in (("input", default_in[0]), ("output", default_out[0])):
        rows_shown = {m.group(2): m.group(1) for line in sections[kind]
                      if (m := re.match(r"^  ([* ]) +(\d+)  (\S+) ", line))}
        assert str(by_name["pulse"]["index"]) in rows_shown, sections[kind]
        marked = [index for index, mark in rows_shown.items() if mark == "*"]
        assert marked == [str(default["index"])], (kind, sections[kind])
    assert any(re.search(r"\bpulse\s+ALSA\s+\d+ ch\s+\d+ Hz$", line) for line in lines), lines


# ------------------------------------------------------------------ the device lost mid-talk


@dataclass(frozen=True)
class PrivatePulse:
    server: str  # PULSE_SERVER value
    pid: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def private_pulse(sound_server: SoundServer) -> Iterator[PrivatePulse]:
    """A PulseAudio of our own with a `mic` and a `spk` null sink (24 kHz mono): rt listens to
    mic.monitor and speaks into spk, so it does not hear itself."""
    assert shutil.which("pulseaudio") and shutil.which("paplay")
    run = Path(tempfile.mkdtemp(prefix="rt-pa-", dir="/tmp"))  # a socket path must be short
    sock = run / "sock"
    base = {**os.environ, "PULSE_RUNTIME_PATH": str(run), "PULSE_STATE_PATH": str(run)}
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
         "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1",
         "-L", "module-null-sink sink_name=mic rate=24000 channels=1",
         "-L", "module-null-sink sink_name=spk rate=24000 channels=1"],
        env=base, check=True, capture_output=True, timeout=10,
    )  # fmt: skip
    pid = int((run / "pid").read_text().split()[0])
    env = {**base, "PULSE_SERVER": f"unix:{sock}"}
    try:
        yield PrivatePulse(f"unix:{sock}", pid, env)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(scope="module")
def rt_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rt serve --port 0` with a scripted answer; yields its URL from the first stdout line."""
    script = tmp_path_factory.mktemp("serve") / "replies.txt"
    script.write_text(ANSWER + "\n")
    proc = subprocess.Popen([*RT, "serve", "--port", "0", "--quiet", "--script", str(script)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        match = re.fullmatch(r"rt serve listening on (ws://127\.0\.0\.1:\d+/v1/realtime)", first)
        assert match, first
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass(frozen=True)
class LostRun:
    code: int
    stdout: str
    stderr: str
    sessions: list[dict]
    detail: dict


@pytest.fixture(scope="module")
def lost_run(private_pulse: PrivatePulse, rt_serve: str,
             tmp_path_factory: pytest.TempPathFactory) -> LostRun:
    """One spoken turn on the private PulseAudio; SIGKILL the daemon while the answer plays.
    Run once for the tests below."""
    tmp_path = tmp_path_factory.mktemp("lost")
    wav = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav),
                    "hello there, what is the weather like today"], check=True)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [*RT, "talk", "--url", rt_serve, "--plain", "--data-dir", str(data),
         "--input-device", "pulse:mic.monitor", "--output-device", "pulse:spk"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**private_pulse.env, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        seen: list[str] = []

        def wait_for(pattern: str) -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                seen.append(line)
                if re.search(pattern, line):
                    return
            raise AssertionError(f"rt ended before {pattern!r}:\n{''.join(seen)}")

        wait_for(r"state: ready")
        subprocess.run(["paplay", "-d", "mic", str(wav)], env=private_pulse.env, check=True,
                       timeout=10)
        wait_for(r"turn 1: completed")  # the answer is all received; about a second played
        time.sleep(0.3)
        os.kill(private_pulse.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    listed = rt("sessions", "list", "--json", "--data-dir", str(data))
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)
    detail: dict = {}
    if sessions:
        shown = rt("sessions", "show", sessions[0]["id"], "--json", "--data-dir", str(data))
        assert shown.returncode == 0, shown.stderr
        detail = json.loads(shown.stdout)
    return LostRun(proc.returncode, "".join(seen) + rest, err, sessions, detail)


def test_device_lost_mid_answer_ends_cleanly(lost_run: LostRun) -> None:
    proc = subprocess.CompletedProcess([], lost_run.code, lost_run.stdout, lost_run.stderr)
    line = assert_one_error_line(
        proc, r"^rt: (input device #\d+ 'pulse' -> mic\.monitor stopped delivering audio"
        r"|output device #\d+ 'pulse' -> spk stopped playing) \(disconnected\?\)$")
    reason = line.removeprefix("rt: ")
    assert f"session ended: {reason}" in lost_run.stdout, lost_run.stdout
    assert "state: closed" in lost_run.stdout
    # The stored session: ended (not active, not crashed), with the turn that was committed.
    assert len(lost_run.sessions) == 1, lost_run.sessions
    session = lost_run.sessions[0]
    assert session["status"] == "ended", session
    assert session["end_reason"] == reason
    assert session["responses"] == 1 and session["ended_at"] is not None
    items = lost_run.detail["items"]
    assert [i["kind"] for i in items] == ["user_audio", "assistant"], items
    user, answer = items
    assert user["status"] == "completed" and user["audio_ms"] > 2000 and user["audio_bytes"] > 0
    assert answer["transcript"] == ANSWER
    assert answer["audio_bytes"] > 0
    assert [t["status"] for t in lost_run.detail["turns"]] == ["completed"]


def test_device_lost_mid_answer_stores_only_what_was_heard(lost_run: LostRun) -> None:
    answer = lost_run.detail["items"][1]
    assert answer["truncated"] is True, answer
    assert answer["audio_end_ms"] is not None and answer["audio_end_ms"] < answer["audio_ms"] - 500
    assert answer["heard_text"] != ANSWER


# ------------------------------------------------------------------ the stderr filter itself


def test_native_stderr_filter_drops_only_library_chatter() -> None:
    """What rt talk installs on real devices: C-level noise out; every other byte kept, in
    order, including a child's stderr, a prompt without newline and the last line at exit."""
    code = r"""
import os, subprocess, sys, time
from realtime_cli.audio.native_stderr import install
assert install() and install()
sys.stderr.write("first\n"); sys.stderr.flush()
os.write(2, b"Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 1812\n")
os.write(2, b"ALSA lib pcm_pulse.c:758:(pulse_prepare) PulseAudio: Unable to create stream: x\n\n")
os.write(2, b"warning: The echo canceller started acting funny and got slapped (reset). "
            b"It swears it will behave now.\n")
os.write(2, b"kept: Expression 'x' failed in 'y', line: 1\n\n")
os.write(2, b"warning: kept too\n")
subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child\\n')"], check=True)
os.write(2, b"prompt> ")
time.sleep(0.3)
os.write(2, b"typed\n")
print("rt: the last line", file=sys.stderr)
sys.exit(4)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=10, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 4
    assert proc.stderr == ("first\nkept: Expression 'x' failed in 'y', line: 1\n\n"
                           "warning: kept too\nchild\n"
                           "prompt> typed\nrt: the last line\n")
