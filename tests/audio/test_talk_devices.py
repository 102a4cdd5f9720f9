"""A whole `rt talk` conversation on REAL devices: the test sound server's null sinks.

rt's microphone is `pulse:rt_sink.monitor`, its speaker `pulse:rt_sink48` (a separate sink, so rt
never hears itself). The test speaks into rt_sink with `paplay -d rt_sink` (espeak-ng speech) and
records rt_sink48's monitor raw with ADC times (`realtime_cli.testing.monitor.MonitorRecorder`),
the ground truth of what rt's speaker really played. `--echo off`: these tests check that the
microphone path is bit-exact, which an echo canceller is not (tests/audio/test_echo_devices.py
covers it).

The server is `rt serve`'s server (realtime_cli.server.run_server, the code `rt serve` runs) in a
thread of this process: its in-memory record keeps the audio of every input_audio_buffer.append
(the `--record FILE` log, also written and checked here, elides it), so the test can check that
what rt sent is the question it heard. `--script` replies make the answer's words, hence its
espeak-ng audio, known in advance; the test synthesises the same audio as the reference.

Clocks: PortAudio's stream clock (MonitorRecorder ADC times) is compared with the moment rt's
`--plain` line arrives on the pipe, stamped with `sd_now()` (PortAudio's clock, checked to be
the wall clock here, see `sd_now`).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.audio.capture import SOUND_PEAK
from realtime_cli.testing.monitor import MonitorRecorder
from realtime_cli.testing.talk import (
    INTERRUPTION,
    QUESTION,
    RATE,
    InProcessServer,
    play,
    rt_talk,
    sd_now,
    speech_wav,
)

from .conftest import SoundServer
from .talk_support import (
    ANSWER,
    LONG_ANSWER,
    SHORT_ANSWER,
    SILENT,
    align,
    recorded_through,
    rms,
    sample_at,
    server_speech,
    to_24k,
    until,
    voiced_extent,
)

pytestmark = pytest.mark.sound


@pytest.fixture
def speaker(sound: SoundServer) -> Iterator[MonitorRecorder]:
    """rt_sink48's monitor, recorded raw (48 kHz stereo) with ADC times."""
    with MonitorRecorder(sound.monitor48, rate=48_000, channels=2) as rec:
        assert rec.first_block.wait(3), "rt_sink48's monitor delivered nothing for 3 s"
        yield rec


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("espeak-ng", "sox", "paplay"):
        assert shutil.which(tool), f"{tool} is missing (make system-deps)"


# ------------------------------------------------------------------ tests


def test_portaudio_clock_is_the_wall_clock(sound: SoundServer) -> None:
    from realtime_cli.audio.devices import sounddevice

    sd = sounddevice()
    with sd.OutputStream(device="pulse", samplerate=RATE, channels=1, dtype="int16") as stream:
        assert abs(float(stream.time) - sd_now()) < 0.005


def test_one_spoken_turn_on_real_devices(sound: SoundServer, speaker: MonitorRecorder,
                                         tmp_path: Path) -> None:
    question = speech_wav(QUESTION, tmp_path / "question.wav")
    record = tmp_path / "received.jsonl"
    with InProcessServer((ANSWER,), record) as server, \
            rt_talk(server.url, tmp_path / "data", "--max-turns", "1", "--echo", "off") as talk:
        talk.wait_line(r"state: ready", 15)
        begin = len(speaker.signal())
        player = play(tmp_path / "question.wav")
        assert player.wait(10) == 0
        talk.wait_line(r"^\[.*\] assistant: ", 15)
        code = talk.finish(20)
        out = talk.text()
        assert code == 0, f"exit {code}\n{out}\nstderr: {talk.stderr}"
        assert talk.stderr == "", talk.stderr
        for expected in (r"state: listening \(user speaking\)",
                         r"user: (<\d+\.\d s of speech>|\[speech, \d+\.\d s\])",
                         rf"assistant: {re.escape(ANSWER)}$", r"turn 1: completed",
                         r"session ended: 1 assistant turn\(s\) done", r"state: closed"):
            assert re.search(expected, out, re.M), f"missing {expected!r} in:\n{out}"
        ended = sd_now()
        until(lambda: recorded_through(speaker, ended), 3, "the monitor to catch up with the DAC")
        heard = speaker.signal()[begin:]
        sent = server.appended_audio()
        sizes = [len(base64.b64decode(e["audio"])) // 2  # samples
                 for e in server.events("input_audio_buffer.append")]
        reply = server_speech(ANSWER, server.voice())

    # What rt sent is what the microphone heard: the question, bit for bit, and nothing else
    # (in particular not rt's own answer, which went to the other sink).
    q = question.astype(np.float64)
    lag, score = align(sent.astype(np.float64), q)
    assert score > 0.999, f"the question is not in the appended audio (correlation {score:.3f})"
    inside = sent[lag : lag + len(question)]
    assert rms(inside) > 1000, rms(inside)
    outside = np.concatenate([sent[:lag], sent[lag + len(question):]])
    assert rms(outside) < 1.0, f"the microphone heard something else (RMS {rms(outside):.1f})"
    assert len(sent) >= lag + len(question), "rt stopped sending before the question ended"

    # Sent in 40 ms appends (960 samples) from the question's first sound to its last, 100 ms
    # ones (2400) once the microphone has been quiet for the hold (the VAD's 500 ms silence +
    # 300 ms).
    sound = np.flatnonzero(np.abs(question.astype(np.int32)) > SOUND_PEAK)
    voice_from, voice_to = int(sound[0]), int(sound[-1]) + 1
    starts = np.cumsum([0, *sizes[:-1]])
    over_voice = [n for s, n in zip(starts, sizes, strict=True)
                  if s < lag + voice_to and s + n > lag + voice_from]
    long_after = [n for s, n in zip(starts, sizes, strict=True)
                  if s > lag + voice_to + 0.8 * RATE + 2400]
    assert over_voice and set(over_voice) == {960}, over_voice
    assert long_after and set(long_after) == {2400}, long_after

    # What the speaker played is the server's answer: the same audio, all of it, once.
    played = to_24k(heard, 48_000)
    ref = reply.astype(np.float64)
    lag, score = align(played, ref)
    assert score > 0.95, f"the speaker did not play the answer (correlation {score:.3f})"
    first, last = voiced_extent(played)
    ref_first, ref_last = voiced_extent(ref)
    heard_ms = (last - first) / 24
    sent_ms = (ref_last - ref_first) / 24
    assert abs(heard_ms - sent_ms) <= 30, (heard_ms, sent_ms)
    assert abs((first - lag) - ref_first) <= 24 * 5  # the voice starts where the answer does
    for k in range(lag, lag + len(ref) - RATE // 2, RATE // 2):  # every half second of it
        part, want = played[k : k + RATE // 2], ref[k - lag : k - lag + RATE // 2]
        if rms(want) > 300:
            c = float(np.dot(part, want) / (np.linalg.norm(part) * np.linalg.norm(want) or 1))
            assert c > 0.9, f"answer at {(k - lag) / 24:.0f} ms does not match ({c:.3f})"

    # The --record log has the same events (audio elided there).
    logged = [json.loads(line) for line in record.read_text().splitlines()]
    appends = [r for r in logged if r["event"]["type"] == "input_audio_buffer.append"]
    assert len(appends) == len(server.events("input_audio_buffer.append")) > 0
    assert {r["conn"] for r in logged} == {1}
    assert re.fullmatch(r"<\d+ base64 chars>", appends[0]["event"]["audio"])


def test_barge_in_on_real_devices(sound: SoundServer, speaker: MonitorRecorder,
                                  tmp_path: Path) -> None:
    speech_wav(QUESTION, tmp_path / "question.wav")
    interruption = speech_wav(INTERRUPTION, tmp_path / "interruption.wav")
    record = tmp_path / "received.jsonl"
    with InProcessServer((LONG_ANSWER, SHORT_ANSWER), record) as server, \
            rt_talk(server.url, tmp_path / "data", "--max-turns", "2", "--echo", "off") as talk:
        talk.wait_line(r"state: ready", 15)
        begin = len(speaker.signal())
        assert play(tmp_path / "question.wav").wait(10) == 0
        talk.wait_line(r"state: responding", 15)
        until(lambda: rms(speaker.signal()[-4800:]) > 300, 5, "the answer on the speaker")
        voiced = sd_now()
        until(lambda: recorded_through(speaker, voiced + 1.0), 5, "a second of the answer")
        played_at = sd_now()
        player = play(tmp_path / "interruption.wav")
        flushed_at = talk.wait_line(r"state: interrupted", 10)  # = speech_started received
        assert player.wait(10) == 0
        code = talk.finish(25)
        out = talk.text()
        assert code == 0, f"exit {code}\n{out}\nstderr: {talk.stderr}"
        ended = sd_now()
        until(lambda: recorded_through(speaker, ended), 3, "the monitor to catch up with the DAC")
        sig = speaker.signal()
        voice = server.voice()
        truncates = server.events("conversation.item.truncate")
        sent = server.appended_audio()

    assert re.search(r"interrupted \(speech_overlap\) at \d+ ms", out), out
    assert re.search(r"assistant \(cut\): ", out), out
    assert re.search(rf"assistant: {re.escape(SHORT_ANSWER)}$", out, re.M), out
    assert len(truncates) == 1, truncates
    audio_end_ms = truncates[0]["audio_end_ms"]
    long_ms = len(server_speech(LONG_ANSWER, voice)) / 24
    assert 800 < audio_end_ms < long_ms - 1000, (audio_end_ms, long_ms)
    assert re.search(r'"conversation.item.truncate"', record.read_text())
    # the interruption reached the server too
    assert align(sent.astype(np.float64), interruption.astype(np.float64))[1] > 0.999

    # The speaker goes silent right after the flush, and stays silent until the next answer.
    ch0 = sig[begin:]  # channel 0
    rate = 48_000
    later = sample_at(speaker, flushed_at + 0.4) - begin
    assert rms(ch0[later : later + rate // 10]) < 1.0, "still playing 0.4 s after the barge-in"
    k = later
    while k > 0 and abs(int(ch0[k - 1])) < SILENT:
        k -= 1
    silent_at = speaker.time_of(begin + k)
    latency_ms = (silent_at - flushed_at) * 1000
    detect_ms = (flushed_at - played_at) * 1000
    # what was heard of the answer vs what rt told the server had been heard
    reply = server_speech(LONG_ANSWER, voice).astype(np.float64)
    heard = to_24k(ch0[:k], rate)
    # The answer's first 250 ms place its start. A longer piece loses its match to one device
    # underrun inside it: 10 ms of silence shifts the rest (a 1 s piece then scores 0.5-0.8;
    # a loaded full run once scored 0.67 here, its cause not proven).
    lag, score = align(heard, reply[: RATE // 4])
    assert score > 0.9, score
    heard_ms = (len(heard) - lag) / 24
    print(f"\nbarge-in on real devices: speech_started received {detect_ms:.0f} ms after the "
          f"interruption began playing; voice silent {latency_ms:.1f} ms after speech_started; "
          f"heard {heard_ms:.0f} ms of the answer, audio_end_ms {audio_end_ms} "
          f"(heard after the truncation point: {heard_ms - audio_end_ms:.0f} ms)")
    assert -5 <= latency_ms <= 150, latency_ms
    assert -20 <= heard_ms - audio_end_ms <= 150, (heard_ms, audio_end_ms)
