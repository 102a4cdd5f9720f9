"""The conformance net under every e2e test: the `serve` fixture validates each client event
a server recorded. Prove the net holds: a beta-shaped or unknown-keyed event is caught, and
the record's audio placeholders (`"<N base64 chars>"`) pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import check_records
from .support import Server


def fake_server(tmp_path: Path, events: list[dict]) -> Server:
    record = tmp_path / "rec.jsonl"
    record.write_text("".join(json.dumps({"conn": 1, "t": 0.0, "event": e}) + "\n"
                              for e in events))
    proc = subprocess.Popen(["true"], text=True)
    proc.wait()
    return Server(proc=proc, url="ws://x", record=record, log=tmp_path / "log")


def test_the_teardown_check_catches_bad_events_and_passes_good_ones(tmp_path: Path) -> None:
    good = [
        {"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}},
        {"type": "input_audio_buffer.append", "audio": "<6400 base64 chars>"},
        {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0,
         "audio_end_ms": 1200, "event_id": "rt_trunc_1"},
    ]
    assert check_records([fake_server(tmp_path, good)]) == []
    bad = [
        {"type": "session.update", "session": {"type": "realtime", "modalities": ["audio"]}},
        {"type": "response.create", "surprise": True},
    ]
    problems = check_records([fake_server(tmp_path, bad)])
    assert len(problems) == 2 and "modalities" in problems[0] and "surprise" in problems[1]
