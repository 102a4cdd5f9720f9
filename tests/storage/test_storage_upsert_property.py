"""Property: after any sequence of partial records for one item, each field holds the last
value given (None never erases), `truncated` is sticky, and the audio is the last given."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_cli.core.records import ItemKind, ItemRecord, SessionStarted
from realtime_cli.storage.db import atomic, open_db
from realtime_cli.storage.queries import load_items
from realtime_cli.storage.sqlite import apply_record

OPTIONAL = ("server_id", "transcript", "heard_text", "call_id", "name", "arguments", "output")

partial = st.fixed_dictionaries(
    {},
    optional={
        **{f: st.one_of(st.none(), st.text(max_size=8)) for f in OPTIONAL},
        "audio_end_ms": st.one_of(st.none(), st.integers(0, 10_000)),
        "truncated": st.booleans(),
        "audio": st.one_of(st.none(), st.binary(max_size=16).map(lambda b: b[: len(b) // 2 * 2])),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(partial, min_size=1, max_size=6))
def test_upserts_fold_like_last_non_none_wins(updates: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "p.sqlite3")
        try:
            with atomic(conn):
                apply_record(
                    conn,
                    SessionStarted(session_id="s" * 32, created_at=1.0, model="m", voice="v",
                                   instructions="", config={}),
                )
            expected: dict[str, Any] = {f: None for f in (*OPTIONAL, "audio_end_ms", "audio")}
            expected["truncated"] = False
            for update in updates:
                record = ItemRecord(session_id="s" * 32, local_id="i", seq=0,
                                    kind=ItemKind.ASSISTANT, role="assistant", **update)
                with atomic(conn):
                    apply_record(conn, record)
                for key, value in update.items():
                    if key == "truncated":
                        expected[key] = expected[key] or value
                    elif value is not None:
                        expected[key] = value
            (item,) = load_items(conn, "s" * 32, with_audio=True)
            got = {key: getattr(item, key) for key in expected}
            assert got == expected
        finally:
            conn.close()
