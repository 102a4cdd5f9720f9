"""Memory over a long conversation: a simulated hour of talk through the real session core and
the real journal, much faster than real time, in a child process of its own.

Both sides talk at the real amounts: the microphone streams 20 ms blocks of 24 kHz PCM16 for the
whole hour (about 173 MB), and in each 20 s turn the user speaks for 6 s, then the assistant
answers with 10 s of audio in 100 ms deltas (about 86 MB over the hour), which plays out while
the microphone keeps streaming. Every `Journal` command the core returns goes to a
`JournalWriter` on a temporary SQLite file, as in `rt talk`; what the core asks to send is
dropped, as a socket would take it away.

Measured from the child's /proc/self/status: VmRSS after a warm-up (the first simulated minutes:
imports, the database, the first turns) against VmRSS at the end (after a garbage collection and
with the journal flushed), and VmHWM, the peak over the whole run.

    .venv/bin/python scripts/bench_memory.py            # the rows of `make bench`
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench_rows import Also, Measured, Section, at_most, print_rows, shared

if TYPE_CHECKING:
    from realtime_cli.core.records import JournalRecord

MINUTES = 60
WARM_UP_MINUTES = 3
TURN_S = 20.0  # the user speaks 6 s, the answer plays 10 s, 4 s of quiet
FRAME_S = 0.02  # a microphone block
MB = 1024 * 1024


def converse(minutes: float, journal: Callable[[JournalRecord], None],
             after_turn: Callable[[float], None]) -> int:
    """Feed `minutes` of conversation to a `SessionCore`, one turn every TURN_S, passing each
    journal record it returns to `journal`; `after_turn(seconds)` after each turn, with the
    simulated time so far. Returns the number of inputs handled. The only function here that
    knows the core's API."""
    from realtime_cli.core import commands as cmd
    from realtime_cli.core import inputs as inp
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore
    from realtime_cli.protocol import events as ev

    core = SessionCore(SessionConfig(idle_timeout_s=None), session_id=uuid.uuid4().hex, now=0.0)
    handled = 0

    def feed(now: float, *events: ev.ServerEvent | inp.Input) -> None:
        nonlocal handled
        for event in events:
            handled += 1
            msg = event if not isinstance(event, ev.ServerEvent) else inp.ServerMessage(now=now, event=event)
            for command in core.handle(msg):
                if isinstance(command, cmd.Journal):
                    journal(command.record)

    def mic(now: float) -> inp.MicAudio:  # a fresh block each time, as a device delivers it
        return inp.MicAudio(now=now, pcm=int(now * 1000).to_bytes(4, "little") * 240)

    feed(0.0, inp.Begin(now=0.0, wall=time.time()), inp.Opened(now=0.0),
         ev.SessionCreated(session_id="sess", expires_at=None, session={}), ev.SessionUpdated(session={}))
    frames_per_turn = round(TURN_S / FRAME_S)
    for turn in range(int(minutes * 60 / TURN_S)):
        t0, uid, rid, aid = turn * TURN_S, f"item_u{turn}", f"resp_{turn}", f"item_a{turn}"
        for k in range(frames_per_turn):
            now = t0 + k * FRAME_S
            feed(now, mic(now))
            if k == 0:
                feed(now, ev.SpeechStarted(audio_start_ms=round(now * 1000), item_id=uid))
            elif k == 300:  # 6 s of speech: the server commits it and answers
                user = ev.Item(id=uid, type="message", role="user", status="completed",
                               content=(ev.ContentPart(type="input_audio"),))
                answer = ev.Item(id=aid, type="message", role="assistant", status="in_progress")
                feed(now, ev.SpeechStopped(audio_end_ms=round(now * 1000), item_id=uid),
                     ev.InputAudioBufferCommitted(item_id=uid), ev.ConversationItemAdded(item=user),
                     ev.ConversationItemDone(item=user), ev.ResponseCreated(response_id=rid),
                     ev.OutputItemAdded(response_id=rid, item=answer), ev.ConversationItemAdded(item=answer),
                     ev.InputTranscriptionCompleted(item_id=uid, transcript="what is the weather like"))
                for n in range(100):  # 10 s of answer, sent faster than it plays
                    feed(now, ev.OutputAudioDelta(response_id=rid, item_id=aid, content_index=0,
                                                  pcm=n.to_bytes(4, "little") * 1200),
                         ev.OutputTranscriptDelta(response_id=rid, item_id=aid, delta="word "))
                done = ev.Item(id=aid, type="message", role="assistant", status="completed",
                               content=(ev.ContentPart(type="output_audio", transcript="word " * 100),))
                feed(now, ev.OutputAudioDone(response_id=rid, item_id=aid),
                     ev.OutputTranscriptDone(response_id=rid, item_id=aid, transcript="word " * 100),
                     ev.OutputItemDone(response_id=rid, item=done), ev.ConversationItemDone(item=done),
                     ev.ResponseDone(response_id=rid, status="completed", output=(done,)))
            elif 300 < k <= 800:  # the answer plays
                feed(now, inp.Playback(now=now, item_id=aid, played_samples=(k - 300) * 480, idle=False))
            elif k == 801:
                feed(now, inp.Playback(now=now, item_id=None, played_samples=0, idle=True))
            if k % 50 == 0:
                feed(now, inp.Tick(now=now))
        after_turn(t0 + TURN_S)
    return handled


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(minutes: float) -> dict[str, float]:
    """Run in the child: the conversation, and its memory figures in MB."""
    from realtime_cli.storage.journal import JournalWriter

    rss: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        writer = JournalWriter(Path(tmp) / "rt.sqlite3")

        def turn_done(seconds: float) -> None:
            # In real time the writer has the whole turn to store it; so it has here.
            writer.flush(timeout=60)
            if (not rss and seconds >= WARM_UP_MINUTES * 60) or seconds >= minutes * 60:
                gc.collect()  # while the core still lives: what it holds counts
                rss.append(_status_kb("VmRSS") / 1024)

        start = time.perf_counter()
        handled = converse(minutes, writer.submit, turn_done)
        wall = time.perf_counter() - start
        peak = _status_kb("VmHWM") / 1024
        writer.close()
    return {"rss_warm_mb": rss[0], "rss_end_mb": rss[-1], "peak_mb": peak,
            "inputs": float(handled), "wall_s": wall, "minutes": float(minutes)}


@shared
def long_conversation(minutes: float = MINUTES) -> dict[str, float]:
    """`child` in a fresh interpreter, so nothing else of the bench is in its memory."""
    done = subprocess.run([sys.executable, __file__, "--child", str(minutes)], capture_output=True,
                          text=True, timeout=1800, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the conversation child failed ({done.returncode}): {last}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


MEMORY = Section("memory")


@MEMORY.figure(f"memory: RSS growth over a simulated {MINUTES}-minute conversation (core + journal, "
               f"after {WARM_UP_MINUTES} min warm-up)", "MB", at_most(20))
def rss_growth() -> Measured:
    r = long_conversation()
    return Measured(r["rss_end_mb"] - r["rss_warm_mb"], (
        Also("after warm-up", r["rss_warm_mb"], "MB"), Also("at the end", r["rss_end_mb"], "MB"),
        Also("simulated in", r["wall_s"], "s")))


@MEMORY.figure(f"memory: peak RSS over the same {MINUTES} minutes (VmHWM)", "MB", at_most(80))
def rss_peak() -> float:
    return long_conversation()["peak_mb"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(float(sys.argv[2]))))
    else:
        print_rows([MEMORY])
