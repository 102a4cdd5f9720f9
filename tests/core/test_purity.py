"""The session core and the protocol layer do no I/O: they import no event loop, socket,
sound, database, clock or thread module, directly or through another rt module."""

from __future__ import annotations

from pathlib import Path

from imports_of import imports_of

import realtime_cli

FORBIDDEN = {"asyncio", "websockets", "sounddevice", "sqlite3", "time", "threading",
             "socket", "selectors", "subprocess", "soxr"}
PACKAGE = Path(realtime_cli.__file__).parent


def _closure(start: list[Path]) -> dict[Path, set[str]]:
    """Every rt module reachable from `start` by imports, with what each imports."""
    seen: dict[Path, set[str]] = {}
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = imports_of(path)
        for name in seen[path]:
            if name.startswith("realtime_cli."):
                rel = Path(*name.split(".")[1:])
                for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
                    if candidate.exists():
                        todo.append(candidate)
    return seen


def test_core_and_protocol_import_nothing_that_does_io() -> None:
    start = sorted((PACKAGE / "core").glob("*.py")) + sorted((PACKAGE / "protocol").glob("*.py"))
    closure = _closure(start)
    assert PACKAGE / "core" / "session.py" in closure
    bad = {str(p.relative_to(PACKAGE)): sorted(n for n in names if n.split(".")[0] in FORBIDDEN)
           for p, names in closure.items()}
    assert {p: n for p, n in bad.items() if n} == {}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import asyncio\nfrom time import monotonic\n")
    assert imports_of(module) == {"asyncio", "time", "time.monotonic"}


def test_the_core_loads_no_io_module_in_a_fresh_interpreter() -> None:
    """Not only the names in import lines: whatever the core pulls in, directly or through
    another package, must leave the event loop, sockets, threads, numpy and the sound and
    database libraries unloaded."""
    import subprocess
    import sys

    code = ("import sys; import realtime_cli.core.session, realtime_cli.protocol.openai_ga, "
            "realtime_cli.protocol.gemini_live; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    loaded = {name.split(".")[0] for name in out}
    assert "realtime_cli" in loaded
    assert loaded & {"numpy", "asyncio", "socket", "threading", "sqlite3", "sounddevice",
                     "websockets", "soxr", "selectors", "subprocess"} == set()


def test_the_core_draws_no_randomness_from_the_os() -> None:
    """Two cores of the same session back off the same way: the jitter is seeded by the
    session id, never read from the OS; another session spreads differently."""
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore

    def delays(session_id: str) -> list[float | None]:
        core = SessionCore(SessionConfig(), session_id=session_id, now=0.0)
        return [core.link.next_backoff() for _ in range(4)]

    assert delays("a" * 32) == delays("a" * 32)
    assert delays("a" * 32) != delays("b" * 32)
