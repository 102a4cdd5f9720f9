"""Code run in child processes (importable for multiprocessing's spawn start method)."""

from __future__ import annotations

import sys

from realtime_cli.core.records import ItemKind, ItemRecord, SessionEnded, SessionStatus
from realtime_cli.storage.journal import JournalWriter

from .synth import pcm, session_records


def journal_session(db_path: str, session_id: str, n_items: int) -> None:
    """Write one session of `n_items` extra items through a JournalWriter, then end it."""
    records = session_records(session_id=session_id, turns=1, ended=False)
    with JournalWriter(db_path) as w:
        for r in records:
            w.submit(r)
        for n in range(n_items):
            w.submit(
                ItemRecord(
                    session_id=session_id,
                    local_id=f"x{n}",
                    seq=10 + n,
                    kind=ItemKind.USER_TEXT,
                    role="user",
                    transcript=f"line {n}",
                    audio=pcm(10),
                )
            )
        w.submit(
            SessionEnded(
                session_id=session_id, ended_at=2e9, status=SessionStatus.ENDED, reason="done"
            )
        )


def journal_until_killed(db_path: str, session_id: str) -> None:
    """Journal forever; after each flush print how many items are surely on disk."""
    records = session_records(session_id=session_id, turns=1, ended=False)
    w = JournalWriter(db_path)
    for r in records:
        w.submit(r)
    n = 0
    while True:
        for _ in range(50):
            w.submit(
                ItemRecord(
                    session_id=session_id,
                    local_id=f"k{n}",
                    seq=10 + n,
                    kind=ItemKind.ASSISTANT,
                    role="assistant",
                    transcript="words " * 20,
                    audio_ms=100,
                    audio=pcm(100),
                )
            )
            n += 1
        w.flush(30)
        print(n, flush=True)


if __name__ == "__main__":
    journal_until_killed(sys.argv[1], sys.argv[2])
