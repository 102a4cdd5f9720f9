"""The commands are imported only when used, and `rt --help` lists them as their own help says."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_cli.cli.subcommands import COMMANDS, load

PROBE = """
import json, sys
from realtime_cli.cli.app import main
sys.argv = ["rt", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("realtime_cli.cli."))), file=sys.stderr)
"""


def _loaded(*args: str, env_home: Path) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=60, env={"HOME": str(env_home), "PATH": "/usr/bin:/bin",
                                           "COLUMNS": "100", "NO_COLOR": "1"})
    *_, last = done.stderr.strip().splitlines()
    return json.loads(last), done.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_summary_is_the_first_paragraph_of_its_commands_help(name: str) -> None:
    command = load(name)
    assert command.name == name
    first = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()
    assert " ".join(first.split()) == COMMANDS[name].summary


def test_rt_help_lists_every_command_without_importing_one(tmp_path: Path) -> None:
    loaded, out = _loaded("--help", env_home=tmp_path)
    assert loaded == ["realtime_cli.cli.app", "realtime_cli.cli.subcommands"]
    for name, entry in COMMANDS.items():
        assert name in out
        assert entry.summary.split()[0] in out


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    loaded, out = _loaded("sessions", "list", "--data-dir", str(tmp_path / "data"), env_home=tmp_path)
    assert "realtime_cli.cli.sessions_cmd" in loaded
    assert "realtime_cli.cli.talk_cmd" not in loaded
    assert "No sessions yet" in out


def test_rt_alone_prints_the_help_and_no_error_line() -> None:
    done = subprocess.run([sys.executable, "-m", "realtime_cli"], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "100"})
    assert "Commands" in done.stdout
    assert "rt:" not in done.stderr
    assert done.returncode == 2  # click's code for "no command given"
