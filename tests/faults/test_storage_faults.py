"""The disk and the database under `rt talk`.

At start: a database full of garbage, one cut short, a data directory that cannot exist (under
a file) or is read-only, a full disk: exactly one `rt: ...` line on stderr, exit 5, no
traceback, and the unreadable file left exactly as it was (rt never "repairs" user data).

Mid-conversation: the disk fills up, or another process holds the database in an EXCLUSIVE
transaction. The conversation goes on (the next answer still reaches the speaker), the person
is told once (one `warning` line), the exit reports the records not saved on one stderr line
with exit code 5 (StorageError), and what was stored before the fault stays intact.

Full and read-only disks are real tmpfs mounts (root only; skipped where `mount` is refused).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.conftest import Q1, Q2, SHORT_ANSWERS, Wavs
from e2e.support import (
    assert_one_clean_line,
    clean_env,
    integrity,
    run_rt,
    start_rt,
    start_server,
    voiced_samples,
    wait_until,
    write_wav,
)

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """A real, tiny filesystem of its own at `where` (root and mount(2) needed, else skip)."""
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                          str(where)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def fill(where: Path) -> int:
    """Write zeros into `where/filler` until the filesystem is full; returns the bytes taken."""
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    taken = 0
    try:
        while True:
            taken += os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # the last few bytes of a page
        fd = os.open(where / "filler2", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0"):
                taken += 1
        finally:
            os.close(fd)
    return taken


def talk(url: str, wavs: Wavs, tmp_path: Path, *extra: str) -> list[str]:
    return ["talk", "--url", url, "--input", str(wavs.question), "--output",
            str(tmp_path / "out.wav"), "--plain", "--max-turns", "1", *extra]


def env_for(tmp_path: Path, data: Path) -> dict[str, str]:
    return clean_env(tmp_path / "rt" / "data", RT_DATA_DIR=str(data))


@pytest.fixture(scope="module")
def good_db(wavs: Wavs, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real database holding one finished session (made once per module)."""
    tmp_path = tmp_path_factory.mktemp("good")
    srv = start_server(tmp_path / "serve", script=SHORT_ANSWERS)
    try:
        res = run_rt(talk(srv.url, wavs, tmp_path), env_for(tmp_path, tmp_path / "data"))
    finally:
        srv.stop()
    assert res.code == 0, res
    return (tmp_path / "data" / "rt.sqlite3").read_bytes()


def _garbage(good: bytes) -> bytes:
    return os.urandom(len(good))


def _garbage_after_header(good: bytes) -> bytes:
    return good[:100] + os.urandom(8192 - 100) + good[8192:]  # header fine, schema pages not


def _half(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _first_page(good: bytes) -> bytes:
    return good[:4096]


@pytest.mark.parametrize("spoil", [_garbage, _garbage_after_header, _half, _first_page])
def test_an_unreadable_database_is_one_line_and_left_alone(good_db: bytes, serve, wavs: Wavs,
                                                          tmp_path: Path, spoil) -> None:
    data = tmp_path / "spoilt"
    data.mkdir()
    db = data / "rt.sqlite3"
    db.write_bytes(spoil(good_db))
    before = db.read_bytes()
    srv = serve()
    env = env_for(tmp_path, data)
    line = assert_one_clean_line(run_rt(talk(srv.url, wavs, tmp_path), env), code=5)
    assert f"database {db} is unusable: " in line, line
    assert ("not a database" in line or "malformed" in line), line
    line = assert_one_clean_line(run_rt(["sessions", "list"], env), code=5)
    assert "unusable" in line, line
    assert db.read_bytes() == before  # not overwritten, not "repaired"
    assert not srv.connections()  # it failed before talking to anyone


def test_a_data_dir_that_cannot_exist_is_one_line(serve, wavs: Wavs, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    srv = serve()
    res = run_rt(talk(srv.url, wavs, tmp_path), env_for(tmp_path, blocker / "data"))
    line = assert_one_clean_line(res, code=5)
    assert line == f"rt: cannot use data directory {blocker / 'data'}: Not a directory", line


@pytest.mark.parametrize("existing", [False, True], ids=["empty-dir", "existing-db"])
def test_a_read_only_data_dir_is_one_line(serve, wavs: Wavs, tmp_path: Path,
                                          existing: bool) -> None:
    srv = serve()
    with tmpfs(tmp_path / "mnt") as mnt:
        data = mnt / "data"
        data.mkdir()
        env = env_for(tmp_path, data)
        if existing:
            assert run_rt(talk(srv.url, wavs, tmp_path), env).code == 0
        stored = sorted(p.name for p in data.iterdir())
        remount_read_only(mnt)
        line = assert_one_clean_line(run_rt(talk(srv.url, wavs, tmp_path), env), code=5)
        assert str(data / "rt.sqlite3") in line, line
        assert sorted(p.name for p in data.iterdir()) == stored


@pytest.mark.parametrize("existing", [False, True], ids=["fresh-db", "existing-db"])
def test_a_full_disk_at_start_is_one_line(serve, wavs: Wavs, tmp_path: Path,
                                          existing: bool) -> None:
    srv = serve()
    with tmpfs(tmp_path / "mnt") as mnt:
        env = env_for(tmp_path, mnt / "data")
        if existing:
            assert run_rt(talk(srv.url, wavs, tmp_path), env).code == 0
        fill(mnt)
        line = assert_one_clean_line(run_rt(talk(srv.url, wavs, tmp_path), env), code=5)
        assert str(mnt / "data" / "rt.sqlite3") in line, line
        if existing:
            (mnt / "filler").unlink()
            assert integrity(mnt / "data" / "rt.sqlite3") == "ok"


# --------------------------------------------------------------------------- mid-conversation


def first_turn_stored(db: Path) -> list[tuple[str, str]] | None:
    """(kind, status) of the stored items once the first answer is stored completed."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute("SELECT kind, status FROM items ORDER BY seq").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    pairs = [(str(k), str(s)) for k, s in rows]
    return pairs if ("assistant", "completed") in pairs else None


def stored_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT i.local_id, i.kind, i.status, i.transcript, i.audio_ms, length(a.pcm) "
            "FROM items i LEFT JOIN item_audio a USING (session_id, local_id) "
            "ORDER BY i.seq").fetchall()
    finally:
        conn.close()


def check_goes_on_and_tells_once(rt, out_wav: Path, voiced_at_fault: int) -> None:
    res = rt.finish(60)
    assert "Traceback" not in res.stderr + res.stdout, res
    warnings = [line for line in res.stdout.splitlines() if "could not save to the journal" in line]
    assert len(warnings) == 1, res
    # the second question was answered and heard after the fault
    assert any(f"assistant: {SHORT_ANSWERS[1]}" in line for line in res.stdout.splitlines()), res
    assert voiced_samples(out_wav) >= voiced_at_fault + 12_000, "no answer audio after the fault"
    line = assert_one_clean_line(res, code=5)
    assert "journal record(s) not saved" in line, line


def test_the_disk_filling_up_mid_conversation(serve, wavs: Wavs, tmp_path: Path) -> None:
    srv = serve()
    out_wav = tmp_path / "out.wav"
    with tmpfs(tmp_path / "mnt", size="4m") as mnt:
        db = mnt / "data" / "rt.sqlite3"
        rt = start_rt(["talk", "--url", srv.url, "--input", str(wavs.two_turns), "--output",
                       str(out_wav), "--plain"], env_for(tmp_path, mnt / "data"))
        try:
            wait_until("the first turn stored", lambda: first_turn_stored(db), 30,
                       also=lambda: "".join(rt.out + rt.err))
            before = stored_rows(db)
            voiced = voiced_samples(out_wav)
            fill(mnt)
            check_goes_on_and_tells_once(rt, out_wav, voiced)
            assert "full" in "".join(rt.err), rt.err
        finally:
            if rt.proc.poll() is None:
                rt.proc.kill()
                rt.finish(10)
        (mnt / "filler").unlink()
        assert integrity(db) == "ok"
        after = stored_rows(db)
        assert after[: len(before)] == before  # nothing stored before the fault was harmed


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_database_locked_by_another_process_mid_conversation(serve, wavs: Wavs,
                                                               tmp_path: Path) -> None:
    srv = serve()
    out_wav = tmp_path / "out.wav"
    data = tmp_path / "data"
    db = data / "rt.sqlite3"
    # The second question's first record waits out SQLite's 10 s busy timeout before it fails
    # and the warning shows: the conversation must still be going then.
    wav = write_wav(tmp_path / "in.wav", [300, Q1, 2500, Q2, 13_000])
    rt = start_rt(["talk", "--url", srv.url, "--input", str(wav), "--output",
                   str(out_wav), "--plain"], env_for(tmp_path, data))
    locker = None
    try:
        wait_until("the first turn stored", lambda: first_turn_stored(db), 30,
                   also=lambda: "".join(rt.out + rt.err))
        before = stored_rows(db)
        voiced = voiced_samples(out_wav)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        rt.wait_line("could not save to the journal", timeout=40)
        assert locker.stdin is not None
        locker.stdin.write("\n")  # let go: later records are written again
        locker.stdin.flush()
        assert locker.wait(10) == 0
        check_goes_on_and_tells_once(rt, out_wav, voiced)
        assert "locked" in "".join(rt.err), rt.err
    finally:
        if rt.proc.poll() is None:
            rt.proc.kill()
            rt.finish(10)
        if locker is not None:
            if locker.poll() is None:
                locker.kill()
            locker.communicate(timeout=10)  # reaps it and closes its pipes
    assert integrity(db) == "ok"
    after = stored_rows(db)
    assert after[: len(before)] == before


def test_the_journal_stores_what_a_server_may_send(tmp_path: Path) -> None:
    """Text with a lone surrogate (valid JSON `"\\udfff"`) and an absurd number are refused by
    SQLite ("surrogates not allowed", "Python int too large to convert to SQLite INTEGER"),
    which would cost the whole record: the writer keeps it, with U+FFFD and the number clamped
    to 64 bits."""
    from realtime_cli.core.records import ItemKind, ItemRecord, SessionStarted
    from realtime_cli.storage.journal import JournalWriter

    db = tmp_path / "rt.sqlite3"
    with JournalWriter(db) as writer:
        writer.submit(SessionStarted(session_id="s" * 32, created_at=1.0, model="m", voice="v",
                                     instructions="i\ud800", config={"note": "x\udfff"}))
        writer.submit(ItemRecord(session_id="s" * 32, local_id="a1", seq=1,
                                 kind=ItemKind.ASSISTANT, role="assistant",
                                 transcript="bad \udfff news", heard_text="bad", truncated=True,
                                 audio_end_ms=2**70, audio_ms=float("nan")))
        writer.flush(10)
        assert writer.take_warning() is None
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT transcript, audio_end_ms, audio_ms FROM items").fetchone()
        instructions, config = conn.execute(
            "SELECT instructions, config_json FROM sessions").fetchone()
    finally:
        conn.close()
    assert row == ("bad \ufffd news", 2**63 - 1, 0.0)
    assert instructions == "i\ufffd" and "x\ufffd" in config
