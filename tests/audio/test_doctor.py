"""`rt doctor`: the room check on synthetic recordings (no devices), then end to end on the
test sound server's null sinks, with and without a simulated echo path
(`realtime_cli.testing.echo_room.EchoRoom`: rt's speaker leaks into rt's microphone), and with
no sound server at all."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.audio.echo.modes import DEFAULT_CANCELLER
from realtime_cli.audio.echo.path_probe import RATE, Recording, probe_signal
from realtime_cli.audio.echo.room_check import (
    CancellerResult,
    assess,
    copes,
    needs_second_probe,
    second_opinion,
)
from realtime_cli.cli.doctor_cmd import _save, report_lines
from realtime_cli.settings import load_settings

from .conftest import SoundServer
from .test_device_errors_cli import NO_SERVER, assert_one_error_line, rt
from .test_echo_devices import room  # noqa: F401 - the fixture: a 120 ms echo path

FAR_T0 = 10.0
DEVICES = ("--input-device", "pulse:rt_sink.monitor", "--output-device", "pulse:rt_sink48")


def recording(delay_ms: float, gain: float, *, noise_dbfs: float = -60.0, mic_first_s: float = 0.1,
              wobble: bool = False) -> Recording:
    """The test signal heard through a path of `delay_ms` and `gain` (the microphone started
    `mic_first_s` before the speaker); `wobble` moves the path's delay by up to 25 ms every
    40 ms and distorts it as an overdriven speaker does, which no linear canceller follows."""
    rng = np.random.default_rng(1)
    far = probe_signal().astype(np.float64)
    d, pre = round(delay_ms * RATE / 1000), round(mic_first_s * RATE)
    near = rng.standard_normal(len(far) + pre + d + RATE // 2) * 32768 * 10 ** (noise_dbfs / 20)
    if wobble:
        for i in range(0, len(far), 960):
            j = pre + d + int(rng.integers(0, 600))
            part = np.tanh(far[i:i + 960] / 3000) * 3000
            near[j + i:j + i + len(part)] += part * gain
    else:
        near[pre + d:pre + d + len(far)] += far * gain
    return Recording(far=probe_signal(), far_t0=FAR_T0,
                     near=np.clip(np.round(near), -32768, 32767).astype(np.int16),
                     near_t0=FAR_T0 - mic_first_s, output_rate=48_000, input_rate=RATE,
                     output_latency_s=0.02, input_latency_s=0.01)


def test_a_loudspeaker_echo_is_placed_and_cancelled() -> None:
    report = assess(recording(120, 0.5), 5.0)
    assert report.echo_found and report.echo_delay_ms == pytest.approx(120, abs=1)
    assert report.echo_level_db == pytest.approx(-6.0, abs=0.5)  # gain 0.5
    assert report.noise_floor_dbfs == pytest.approx(-60, abs=1) and report.clipped_pct == 0
    by_mode = {c.mode: c for c in report.cancellers}
    assert set(by_mode) == {"speex", "aec3", "half-duplex"}
    assert by_mode["speex"].alone_reduction_db is not None and by_mode["speex"].alone_reduction_db >= 20
    assert (report.verdict, report.echo_mode) == ("use aec", "aec")
    assert report.output_latency_ms == 20 and report.output_block_ms == 5.0


def test_no_echo_needs_no_headphones() -> None:
    report = assess(recording(0, 0.0), 5.0)
    assert not report.echo_found and report.cancellers == ()
    assert report.verdict == "headphones not needed"


def test_a_clipping_microphone_needs_headphones() -> None:
    report = assess(recording(80, 4.0), 5.0)
    assert report.clipped_pct > 1
    assert (report.verdict, report.echo_mode) == ("use headphones", "off")


def test_a_path_only_aec3_follows_recommends_aec3() -> None:
    report = assess(recording(60, 0.5, wobble=True), 5.0)
    by_mode = {c.mode: c for c in report.cancellers}
    assert (by_mode["speex"].alone_reduction_db or 0) < 15 <= (by_mode["aec3"].alone_reduction_db or 0)
    assert (report.verdict, report.echo_mode) == ("use aec", "aec3")


def test_a_default_canceller_that_falls_short_once_is_heard_again() -> None:
    steady, moving = assess(recording(120, 0.5), 5.0), assess(recording(60, 0.5, wobble=True), 5.0)
    assert not needs_second_probe(steady) and needs_second_probe(moving)
    assert not needs_second_probe(assess(recording(0, 0.0), 5.0))  # no echo: nothing to choose
    settled = second_opinion(moving, steady)
    assert settled.echo_mode == "aec" and settled.reasons[-1] == (
        "a first probe recommended --echo aec3; a second one did not")
    confirmed = second_opinion(moving, moving)
    assert confirmed.echo_mode == "aec3" and confirmed.reasons[-1] == "a second probe confirmed it"


def test_a_path_no_canceller_follows_means_half_duplex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywebrtc_audio", None)  # the AEC3 wheel is not installed
    report = assess(recording(60, 0.5, wobble=True), 5.0)
    assert report.echo_found
    by_mode = {c.mode: c for c in report.cancellers}
    assert not by_mode["aec3"].available and "pip install pywebrtc-audio" in by_mode["aec3"].note
    assert (by_mode["speex"].alone_reduction_db or 0) < 15
    assert (report.verdict, report.echo_mode) == ("use half-duplex", "half-duplex")
    assert any("aec3  " in line and "not available" in line for line in report_lines(report))


def test_digital_silence_is_said_and_json_has_no_infinity() -> None:
    silent = recording(0, 0.0)
    silent.near[:] = 0
    report = assess(silent, 5.0)
    assert any("digital silence" in r for r in report.reasons)
    data = report.as_dict()
    assert data["noise_floor_dbfs"] is None
    json.dumps(data, allow_nan=False)
    assert any("none (digital silence)" in line for line in report_lines(report))


def test_a_canceller_that_lets_nothing_through_is_null_in_json() -> None:
    data = assess(recording(120, 0.5), 20.0).as_dict()
    cancellers = data["cancellers"]
    assert cancellers and all(c["echo_left_dbfs"] is None for c in cancellers), cancellers
    json.dumps(data, allow_nan=False)  # what `jq` and other strict readers accept


def test_underflows_raise_the_recommended_block() -> None:
    rec = recording(120, 0.5)
    rec.underflows = 3
    report = assess(rec, 5.0)
    assert report.output_block_ms == 20.0 and any("underflowed 3 times" in r for r in report.reasons)
    assert assess(rec, 20.0).output_block_ms == 40.0 and assess(rec, 40.0).output_block_ms == 50.0
    assert any("even the largest output block" in r for r in assess(rec, 50.0).reasons)


def test_save_sets_the_echo_mode_and_block_and_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model = "gpt-realtime"\n\n[audio]\nprebuffer_ms = 100.0\necho = "off"\n')
    report = assess(recording(120, 0.5), 5.0)
    assert _save(config, report) == config
    settings = load_settings({}, env={}, path=config)
    assert settings.audio.echo == "aec" and settings.audio.output_block_ms == 5.0
    assert settings.audio.prebuffer_ms == 100.0 and settings.session["model"] == "gpt-realtime"
    fresh = tmp_path / "new" / "config.toml"
    _save(fresh, report)
    assert load_settings({}, env={}, path=fresh).audio.echo == "aec"


# ------------------------------------------------------------------ on the test sound server


def config(tmp_path: Path) -> dict[str, str]:
    """An empty config file of the test's own: the user's is neither read nor written."""
    path = tmp_path / "config.toml"
    path.touch()
    return {"RT_CONFIG": str(path)}


def doctor_json(tmp_path: Path, *extra: str) -> dict[str, object]:
    done = rt("doctor", *DEVICES, "--json", *extra, env=config(tmp_path))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


@pytest.mark.sound
@pytest.mark.usefixtures("room")
def test_doctor_in_a_room_with_an_echo_path(tmp_path: Path) -> None:
    data = doctor_json(tmp_path, "--save")
    assert data["echo_found"] is True
    assert isinstance(data["echo_delay_ms"], float) and abs(data["echo_delay_ms"] - 120) <= 25
    assert data["verdict"] == "use aec" and data["echo_mode"] in ("aec", "aec3"), data
    if data["echo_mode"] == "aec3":  # only when the default fell short in both probes, as
        # speexdsp can on a busy machine (it reset a diverged filter in one soak run)
        assert not default_copes(data), data
    assert data["saved_to"] == str(tmp_path / "config.toml")
    assert load_settings({}, env={}, path=tmp_path / "config.toml").audio.echo == data["echo_mode"]


def default_copes(data: dict[str, object]) -> bool:
    """Did the default canceller measure as good enough in the report `data`?"""
    cancellers = data["cancellers"]
    assert isinstance(cancellers, list)
    return copes(CancellerResult(**next(c for c in cancellers if c["mode"] == DEFAULT_CANCELLER)))


@pytest.mark.sound
def test_doctor_without_an_echo_path(sound: SoundServer, tmp_path: Path) -> None:
    data = doctor_json(tmp_path)
    assert data["echo_found"] is False and data["verdict"] == "headphones not needed"
    devices = data["devices"]
    assert isinstance(devices, dict) and "rt_sink48" in devices["output"]["device"]
    assert devices["input"]["rate"] == RATE
    assert (tmp_path / "config.toml").read_text() == ""  # no --save: untouched


@pytest.mark.sound
@pytest.mark.usefixtures("room")
def test_doctor_report_as_text(tmp_path: Path) -> None:
    done = rt("doctor", *DEVICES, env=config(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for part in ("microphone  ", "speaker     ", "echo path ", "speex", "aec3", "verdict   "):
        assert part in out, out
    verdict = re.search(r"^verdict +use aec \(--echo (aec3?)\b", out, re.M)
    assert verdict, out
    if verdict.group(1) == "aec":  # the default when it copes, as it does but on a busy machine
        assert "rt doctor --save" not in out  # aec is already the configured mode


def test_doctor_without_a_sound_server_is_one_line(tmp_path: Path) -> None:
    done = rt("doctor", "--input-device", "pulse", "--output-device", "pulse",
              env={"PULSE_SERVER": NO_SERVER, **config(tmp_path)})
    assert_one_error_line(done, r"^rt: no audio device; is a sound server running\?")
