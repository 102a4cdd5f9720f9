"""The runner around real parts (rt serve on loopback, a WAV microphone, a real journal) when
the speaker side fails: the one edge this machine cannot break on demand, so a WavSink that
raises is the fake here (the real device-lost path is in tests/audio/test_device_errors_cli.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from e2e.support import write_wav

from realtime_cli.audio.wavdev import WavSink, WavSource
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.session import SessionCore
from realtime_cli.errors import AudioDeviceError
from realtime_cli.runtime.runner import Runner
from realtime_cli.server import ServerOptions, run_server
from realtime_cli.storage.journal import JournalWriter
from realtime_cli.transport.endpoint import resolve_endpoint


class LostSpeaker(WavSink):
    """Plays normally, then its device disappears after `ok_plays` chunks."""

    def __init__(self, path: Path, ok_plays: int) -> None:
        super().__init__(path)
        self.ok_plays = ok_plays

    def play(self, item_id: str, pcm: bytes) -> None:
        if self.ok_plays <= 0:
            raise AudioDeviceError("output device 'test' disappeared")
        self.ok_plays -= 1
        super().play(item_id, pcm)


async def test_a_speaker_lost_mid_answer_ends_with_its_error_and_the_journal_intact(
    tmp_path: Path,
) -> None:
    question = write_wav(tmp_path / "q.wav", [300, "Tell me something please.", 2000])
    db = tmp_path / "rt.sqlite3"
    async with run_server(ServerOptions(port=0, pace=0)) as server:
        config = SessionConfig(transcription_model=None)
        core = SessionCore(config, session_id="f" * 32, now=0.0)
        journal = JournalWriter(db)
        runner = Runner(core, resolve_endpoint(model=config.model, url=server.url, env={}),
                        WavSource(question), LostSpeaker(tmp_path / "out.wav", ok_plays=3),
                        journal=journal)
        with pytest.raises(AudioDeviceError, match="disappeared"):
            await asyncio.wait_for(runner.run(), timeout=30)
        await asyncio.to_thread(journal.close, 10.0)
    conn = sqlite3.connect(db)
    status, reason = conn.execute("SELECT status, end_reason FROM sessions").fetchone()
    assert status == "ended" and "disappeared" in reason
    kinds = [k for (k,) in conn.execute("SELECT kind FROM items ORDER BY seq")]
    assert kinds[0] == "user_audio"  # what was committed before the loss is kept
