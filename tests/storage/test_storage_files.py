"""Where the data lives, who may read it, and that no secret ever reaches it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from realtime_cli.core.records import SessionStarted
from realtime_cli.errors import StorageError
from realtime_cli.secrets_policy import scrub_secrets
from realtime_cli.storage.export import export_json, export_markdown
from realtime_cli.storage.journal import JournalWriter
from realtime_cli.storage.paths import DB_FILENAME, db_path, resolve_data_dir
from realtime_cli.storage.queries import load_detail

from .synth import SECRET, new_id, session_records


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("RT_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "rt"
    assert _mode(tmp_path / "xdg" / "rt") == 0o700


def test_dir_0700_and_files_0600(data_dir: Path) -> None:
    old = os.umask(0o022)
    try:
        path = db_path(data_dir / "nested" / "deeper")
        with JournalWriter(path) as w:
            for r in session_records():
                w.submit(r)
            w.flush(5)
            files = [Path(f"{path}{s}") for s in ("", "-wal", "-shm")]
            assert all(f.exists() for f in files)
            assert {_mode(f) for f in files} == {0o600}
    finally:
        os.umask(old)
    assert path.name == DB_FILENAME
    assert _mode(path.parent) == 0o700
    assert _mode(data_dir / "nested") == 0o700


def test_loose_existing_files_are_tightened(data_dir: Path) -> None:
    path = db_path(data_dir)
    path.touch()
    os.chmod(path, 0o644)
    JournalWriter(path).close()
    assert _mode(path) == 0o600


def test_unusable_dir_is_one_line_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StorageError) as info:
        db_path(blocker / "sub")
    assert "\n" not in str(info.value) and str(blocker / "sub") in str(info.value)
    with pytest.raises(StorageError):
        JournalWriter(tmp_path / "no-such-dir" / "x.sqlite3")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_dir_is_storage_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(StorageError):
        JournalWriter(ro / "x.sqlite3")


def test_scrub_secrets() -> None:
    config = {
        "model": "gpt-realtime",
        "api_key": SECRET,
        "OPENAI_API_KEY": SECRET,
        "headers": {"Authorization": f"Bearer {SECRET}"},
        "transport": {"url": "wss://x", "token": "t", "extra": [f"Bearer abc{SECRET}"]},
        "max_output_tokens": 300,
        "note": f"my key is {SECRET}",
    }
    clean = scrub_secrets(config)
    assert SECRET not in json.dumps(clean)
    assert clean["max_output_tokens"] == 300
    assert clean["transport"] == {"url": "wss://x", "extra": ["[redacted]"]}
    assert "api_key" not in clean and "headers" not in clean


def test_secret_in_config_never_reaches_disk(data_dir: Path) -> None:
    path = db_path(data_dir)
    records = session_records()
    sid = records[0].session_id
    with JournalWriter(path) as w:
        w.submit(
            SessionStarted(
                session_id=sid,
                created_at=1.0,
                model="gpt-realtime",
                voice="marin",
                instructions="hi",
                config={"api_key": SECRET, "nested": {"authorization": SECRET}, "x": SECRET},
            )
        )
        for r in records[1:]:
            w.submit(r)
        w.flush(5)
        on_disk = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
        assert SECRET.encode() not in on_disk
    on_disk = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())
    assert SECRET.encode() not in on_disk
    from realtime_cli.storage.db import open_db

    conn = open_db(path)
    try:
        detail = load_detail(conn, sid)
    finally:
        conn.close()
    assert SECRET not in export_json(detail) and SECRET not in export_markdown(detail)


def test_new_id_unused() -> None:
    assert len(new_id()) == 32
