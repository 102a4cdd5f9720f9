"""Barge-in end to end: speech over a playing answer stops the voice and truncates the item
at what the output WAV really received.

The WAV sink writes what is "heard" with no output latency. The journal keeps the assistant
item's audio exactly up to `audio_end_ms` (the bytes the server sent), so that audio must appear
sample for sample in the output WAV (played >= audio_end_ms), followed by a 5 ms fade and digital
silence starting no later than 10 ms after it (played <= audio_end_ms + 10 ms).
espeak-ng's female voices add random breath noise, so re-rendering the line is only good for
"there was more to say here", not for a sample comparison.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from realtime_cli.server.speech import SpeechEngine
from realtime_cli.storage.paths import db_path
from realtime_cli.storage.queries import load_session

from .conftest import LONG_ANSWER, Wavs
from .support import (
    find,
    no_traceback,
    read_wav,
    run_rt,
    session_json,
    sessions_json,
)

pytestmark = pytest.mark.slow
VOICE = "marin"  # rt's default voice; rt serve maps it to an espeak-ng variant


def server_voice(text: str) -> np.ndarray:
    pcm = asyncio.run(SpeechEngine("auto").synthesize(text, VOICE, 1.0))
    return np.frombuffer(pcm, dtype="<i2")


def test_barge_in_stops_playback_and_truncates_at_what_was_played(
        serve, wavs: Wavs, env, data_dir: Path, tmp_path: Path) -> None:
    srv = serve(script=[LONG_ANSWER, "Sure."])
    out_wav = tmp_path / "heard.wav"
    res = run_rt(["talk", "--url", srv.url, "--input", str(wavs.barge_in), "--output",
                  str(out_wav), "--max-turns", "2", "--json"], env)
    assert res.code == 0, res
    no_traceback(res)
    events = res.json_lines()

    # rt noticed the overlap and cut the answer where it was
    cuts = [e for e in events if e["event"] == "interruption"]
    assert [c["kind"] for c in cuts] == ["speech_overlap"], events
    cut_items = [e for e in events if e["event"] == "transcript" and e["truncated"]]
    assert len(cut_items) == 1, events
    heard = cut_items[0]["text"]
    assert heard and LONG_ANSWER.startswith(heard) and len(heard) < len(LONG_ANSWER)

    # the server was told, once, for the assistant item, at what was played
    truncates = srv.received("conversation.item.truncate")
    assert len(truncates) == 1, truncates
    truncate = truncates[0]
    assert truncate["content_index"] == 0
    end_ms = truncate["audio_end_ms"]
    assert end_ms == cut_items[0]["audio_end_ms"] == cuts[0]["position_ms"]

    # the journal keeps the item truncated, its heard words and exactly the audio heard
    (row,) = sessions_json(env)
    assert row["interruptions"] == 1 and row["status"] == "ended"
    detail = session_json(env, row["short_id"])
    (item,) = [i for i in detail["items"] if i["server_id"] == truncate["item_id"]]
    assert item["kind"] == "assistant" and item["truncated"] is True
    assert item["audio_end_ms"] == end_ms and item["audio_ms"] > end_ms + 1000
    assert item["transcript"] == LONG_ANSWER
    assert item["heard_text"] == heard and len(item["heard_text"]) < len(item["transcript"])
    stored = load_session(db_path(str(data_dir)), row["id"], with_audio=True)
    (audio_item,) = [i for i in stored.items if i.server_id == truncate["item_id"]]
    assert audio_item.audio is not None
    kept = np.frombuffer(audio_item.audio, dtype="<i2")  # the server's audio up to the cut
    assert len(kept) == end_ms * 24

    # the output WAV holds that audio sample for sample (played >= audio_end_ms) ...
    out = read_wav(out_wav)
    start = find(out, kept)
    assert start > 0, "the answer's audio is not in the output WAV"
    assert not np.any(out[start - 2400 : start]), "something played just before the answer"
    # ... then a 5 ms fade and digital silence: played <= audio_end_ms + 10 ms, and the voice
    # dropped to silence within one block of the cut
    silent_from = start + len(kept) + 10 * 24
    after = out[silent_from : silent_from + 24_000]
    assert after.size == 24_000 and not np.any(after), "playback went on after the barge-in"
    # the answer would have gone on audibly there (the server's voice, rendered again)
    ref = server_voice(LONG_ANSWER)
    assert np.abs(ref[end_ms * 24 + 240 : end_ms * 24 + 24_240].astype(np.int32)).max() > 3000

    # the conversation went on: the second question got its answer
    said = [e["text"] for e in events if e["event"] == "transcript" and e["role"] == "assistant"]
    assert said[-1] == "Sure.", said
