"""The fault suite: real `rt talk` processes, real sockets, a real SQLite file, real faults.

Every test here runs `rt talk` as a subprocess against a real `rt serve` on 127.0.0.1, most
through a small `websockets` proxy (proxy.py) that misbehaves where `rt serve` has no flag for
it. Helpers and fixtures come from tests/e2e (support.py, conftest.py); nothing is copied.
Marked `slow` like the end-to-end tests. Run: `.venv/bin/python -m pytest -q tests/faults`.

1. Connections that die (test_drop_mid_answer.py). Already proven in
   tests/e2e/test_resilience.py and not repeated here: a socket dropped between turns
   (`--drop-after`), `expires_at` reached (`--expire-after`, rollover) and the server's own
   `session_expired` error (ExpiringProxy), each with the history replayed and every item
   stored in order. Added here: the drop exactly mid-answer, while its audio streams; the cut
   answer is kept as heard (truncated, its audio in the output WAV), replayed as heard, and the
   next turn is answered and heard.
2. 10,000 fuzzed server events (test_fuzz.py, fuzz.py), seeded, mid-conversation; then a real
   turn, a normal exit, no traceback, the real items in order in a sound database. Plus one
   test per hostile event that the seeded run may or may not land on.
3. `kill -9` at 25 seeded random moments over the conversation (test_kill9.py): integrity,
   nothing committed lost or torn, `rt sessions show` and `rt resume` on the crashed sessions.
   The crash-then-resume story end to end is tests/e2e/test_crash_resume.py; kill -9 of the
   journal writer alone is tests/storage/test_storage_processes.py.
4. The disk (test_storage_faults.py): unreadable, truncated, read-only, full, missing data
   dir at start (one `rt:` line, exit 5); the disk filling up and the database locked by another
   process mid-conversation (talking goes on, one warning, exit 5 naming the records not saved).
5. A server that stalls (test_stall.py): the response timeout fires, rt says so once and the
   next turn works on the same connection.

Exit codes met here: 0 (a conversation that ended normally, whatever the server sent), 5 (any
storage problem, including records lost mid-conversation, reported once at exit as
`rt: N journal record(s) not saved: <first error>`), -9 (killed).

Two hostile inputs need care in rt itself: a lone UTF-16 surrogate in a server string (JSON
`"\\ud800"`) cannot be printed or journaled, so the codec and the journal replace it with U+FFFD
(`realtime_cli/text.py`), and an absurd `audio_start_ms` (-1e308) cannot be used as a position,
so the codec refuses numbers beyond 2**53.
"""
