from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_cli.errors import StorageError
from realtime_cli.storage.db import atomic, connect, enable_wal


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "t.sqlite3")
    c.execute("CREATE TABLE t (x INTEGER)")
    yield c
    c.close()


def test_atomic_commits_and_rolls_back(raw: sqlite3.Connection) -> None:
    with atomic(raw):
        raw.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ValueError), atomic(raw):
        raw.execute("INSERT INTO t VALUES (2)")
        raise ValueError("boom")
    assert [r[0] for r in raw.execute("SELECT x FROM t")] == [1]
    assert not raw.in_transaction


def test_nested_atomic_is_a_savepoint(raw: sqlite3.Connection) -> None:
    with atomic(raw):
        raw.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(KeyError), atomic(raw):
            raw.execute("INSERT INTO t VALUES (2)")
            raise KeyError("inner")
        with atomic(raw):
            raw.execute("INSERT INTO t VALUES (3)")
    assert [r[0] for r in raw.execute("SELECT x FROM t ORDER BY x")] == [1, 3]


def test_wal_is_refused_inside_a_transaction(raw: sqlite3.Connection) -> None:
    with pytest.raises(StorageError), atomic(raw):
        enable_wal(raw)
    assert not raw.in_transaction
    enable_wal(raw)
    enable_wal(raw)  # a no-op the second time
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
