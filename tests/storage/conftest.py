from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_cli.storage.db import open_db


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may touch the real user data directory."""
    data = tmp_path / "data"
    monkeypatch.setenv("RT_DATA_DIR", str(data))
    return data


@pytest.fixture
def data_dir(_isolated_data_dir: Path) -> Path:
    return _isolated_data_dir


@pytest.fixture
def db_file(data_dir: Path) -> Path:
    from realtime_cli.storage.paths import db_path

    return db_path(data_dir)


@pytest.fixture
def conn(db_file: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(db_file)
    try:
        yield c
    finally:
        c.close()
