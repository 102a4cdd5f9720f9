"""Where rt keeps its database, and the file modes that keep it private.

The data directory is, in order: an explicit directory (the `--data-dir` flag), the `RT_DATA_DIR`
environment variable, then `platformdirs.user_data_dir("rt")`. A directory rt creates is mode
0700; the database and its `-wal`/`-shm` companions are mode 0600, since transcripts and audio
are as private as anything on the machine.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from realtime_cli.errors import StorageError

ENV_DATA_DIR = "RT_DATA_DIR"
DB_FILENAME = "rt.sqlite3"
DIR_MODE = 0o700
FILE_MODE = 0o600
DB_SUFFIXES = ("", "-wal", "-shm")


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("rt", appauthor=False))


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The data directory to use, created (0700, parents too) when `create` is true.

    Raises StorageError with one line when it cannot be created or is not a directory.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
        ours = False
    elif os.environ.get(ENV_DATA_DIR):
        path = Path(os.environ[ENV_DATA_DIR]).expanduser()
        ours = False
    else:
        path = default_data_dir()
        ours = True  # rt's own directory: safe to tighten an existing one
    if create:
        _ensure_dir(path, tighten=ours)
    return path


def _ensure_dir(path: Path, *, tighten: bool) -> None:
    try:
        if path.is_dir():
            if tighten:
                os.chmod(path, DIR_MODE)
            return
        missing = [path, *(p for p in path.parents if not p.exists())]
        for directory in reversed(missing):  # parents too: mkdir(parents=True) ignores mode
            directory.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"cannot use data directory {path}: {reason}") from None


def db_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The database file inside `resolve_data_dir(data_dir)` (the directory is created)."""
    return resolve_data_dir(data_dir) / DB_FILENAME


def prepare_db_file(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it, and tighten existing companions.

    SQLite creates `-wal` and `-shm` with the mode of the main file, so a 0600 main file gives
    0600 companions.
    """
    try:
        if not path.exists():
            # Never open (and close) an existing database file here: closing any descriptor
            # of a file drops every POSIX lock this process holds on it, SQLite's included,
            # and another rt process could then reset the WAL under our connection.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
        for suffix in DB_SUFFIXES:
            companion = Path(f"{path}{suffix}")
            try:
                st = companion.stat()
            except FileNotFoundError:
                continue
            if st.st_mode & 0o777 != FILE_MODE and st.st_uid == os.getuid():
                os.chmod(companion, FILE_MODE)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"cannot open database {path}: {reason}") from None
