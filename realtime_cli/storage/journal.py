"""The journal writer: one thread owns the write connection and drains a queue of records.

The event loop only calls `submit(record)`, which puts the record on an unbounded queue and
returns at once: a long session never waits on the disk. The writer thread commits each record
in its own transaction (`BEGIN IMMEDIATE` ... `COMMIT`), so a `kill -9` loses at most what was
still queued, never a half-written record. Errors are not lost: the writer keeps going, collects
them, and `flush()`/`close()` raise them as one StorageError. A full disk or a database another
process keeps locked never reaches the conversation: `take_warning()` hands the first failure out
once, for the one warning a person sees, and the conversation goes on unsaved. From asyncio, call
the blocking `flush`/`close` through `asyncio.to_thread`.

While it owns an open session, the writer refreshes the session's heartbeat every `heartbeat_s`
seconds of its clock (see `liveness`), checked whenever the thread wakes and before it handles
what woke it: once `flush()` returns, every heartbeat due before it is on disk. A test injects a
`ManualClock`, moves it and flushes, instead of waiting on real time.

    writer = JournalWriter(db_path, keep_audio=True)   # opens + migrates; raises at once
    writer.submit(SessionStarted(...))                 # never blocks
    writer.flush(timeout=5)                            # everything submitted so far is on disk
    writer.take_warning()                              # the first failure, once (else None)
    writer.close()                                     # drain, stop, close the connection
"""

from __future__ import annotations

import atexit
import os
import queue
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from realtime_cli.clock import Clock, SystemClock
from realtime_cli.core.records import JournalRecord, SessionEnded, SessionStarted
from realtime_cli.errors import StorageError
from realtime_cli.storage import liveness
from realtime_cli.storage.db import atomic, open_db
from realtime_cli.storage.sqlite import Owner, apply_record, heartbeat


@dataclass(slots=True)
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class JournalWriter:
    """Persist journal records off the event loop; the only writer of its process."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        keep_audio: bool = True,
        heartbeat_s: float = liveness.HEARTBEAT_S,
        clock: Clock | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.keep_audio = keep_audio
        self._heartbeat_s = heartbeat_s
        self._clock = clock or SystemClock()
        self._owner = Owner()
        # Opened here so that a bad path or a too-new schema fails in the caller, not later.
        self._conn: sqlite3.Connection = open_db(self.db_path, check_same_thread=False)
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._errors: list[str] = []
        self._error_count = 0
        self._warning: str | None = None
        self._warned = False
        self._lock = threading.Lock()
        self._closed = False
        self._written = 0
        self._owned: dict[str, None] = {}
        self._thread = threading.Thread(target=self._run, name="rt-journal-writer", daemon=True)
        self._thread.start()
        self._atexit = _make_atexit(weakref.ref(self))
        atexit.register(self._atexit)

    # -- the event-loop side ---------------------------------------------------------------

    def submit(self, record: JournalRecord) -> None:
        """Queue one record for writing; never blocks. StorageError once closed."""
        if self._closed:
            raise StorageError("the session journal is closed")
        self._queue.put(record)

    @property
    def written(self) -> int:
        """Records committed so far (including ones that failed and were reported)."""
        return self._written

    def take_warning(self) -> str | None:
        """The first write failure, the first time it is asked for after it happened; else None."""
        with self._lock:
            if self._warned or self._warning is None:
                return None
            self._warned = True
            return self._warning

    def flush(self, timeout: float | None = None) -> None:
        """Block until every record submitted before this call is committed.

        Raises StorageError on timeout, or when any record failed since the last flush.
        """
        if not self._thread.is_alive():
            self._raise_errors()
            raise StorageError("the session journal writer has stopped")
        marker = _Flush()
        self._queue.put(marker)
        if not marker.done.wait(timeout):
            raise StorageError(f"the session journal did not reach the disk within {timeout:g} s")
        self._raise_errors()

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, stop the thread, close the connection; raise stored errors."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self._atexit)
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            # still waiting on the disk or on a lock: what is queued will not be written
            with self._lock:
                failed, first = self._error_count, self._errors[0] if self._errors else None
            queued = max(0, self._queue.qsize() - 1)  # less the stop marker
            why = first or f"the database did not take them within {timeout:g} s"
            raise StorageError(f"{failed + queued + 1} journal record(s) not saved: {why}")
        self._raise_errors()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_errors(self) -> None:
        with self._lock:
            errors, count = self._errors, self._error_count
            self._errors, self._error_count = [], 0
        if count:
            more = f" (and {count - 1} more)" if count > 1 else ""
            raise StorageError(f"{count} journal record(s) not saved: {errors[0]}{more}")

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        last_beat = self._clock.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self._heartbeat_s)
                except queue.Empty:
                    item = None
                if self._clock.monotonic() - last_beat >= self._heartbeat_s:
                    self._beat()
                    last_beat = self._clock.monotonic()
                if item is _STOP:
                    break
                if isinstance(item, _Flush):
                    item.done.set()
                elif item is not None:
                    self._write(item)  # type: ignore[arg-type]
        finally:
            self._drain_markers()
            self._conn.close()

    def _write(self, record: JournalRecord) -> None:
        try:
            with atomic(self._conn):
                apply_record(self._conn, record, keep_audio=self.keep_audio, owner=self._owner,
                             now=self._clock.wall())
        except Exception as exc:  # kept and re-raised by flush()/close()
            self._fail(f"{type(record).__name__} for session {record.session_id[:8]}: {exc}")
        else:
            if isinstance(record, SessionStarted):
                self._owned[record.session_id] = None
            elif isinstance(record, SessionEnded):
                self._owned.pop(record.session_id, None)
        self._written += 1

    def _beat(self) -> None:
        if not self._owned:
            return
        try:
            with atomic(self._conn):
                heartbeat(self._conn, list(self._owned), self._owner, self._clock.wall())
        except Exception as exc:  # loses no record: worth a warning, not an error
            with self._lock:
                self._warning = self._warning or f"{exc}"

    def _fail(self, message: str) -> None:
        with self._lock:
            if len(self._errors) < 20:
                self._errors.append(message)
            self._error_count += 1
            self._warning = self._warning or message.split(": ", 1)[-1]

    def _drain_markers(self) -> None:
        """Write what raced in after the stop and release anyone waiting on a flush."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Flush):
                item.done.set()
            elif item is not _STOP:
                self._write(item)  # type: ignore[arg-type]


def _make_atexit(ref: weakref.ref[JournalWriter]) -> Callable[[], None]:
    """At interpreter exit, drain a writer nobody closed, and say so if records were lost."""

    def hook() -> None:
        writer = ref()
        if writer is None:
            return
        try:
            writer.close(timeout=10)
        except StorageError as exc:
            print(f"rt: {exc.message}", file=sys.stderr)

    return hook
