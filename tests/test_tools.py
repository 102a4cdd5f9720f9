"""ToolRunner runs declared commands only and turns every failure into a JSON error."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from realtime_cli.errors import ConfigError
from realtime_cli.tools import ToolDecl, ToolRunner, check_unique

ECHO_TOOL = """
import json, os, sys
args = json.load(sys.stdin)
print(json.dumps({"city": args["city"], "temp_c": 21, "tool": os.environ["RT_TOOL_NAME"]}))
"""

FAILING_TOOL = """
import sys
sys.stdin.read()
print("partial output")
print("something broke\\nweather service unreachable", file=sys.stderr)
sys.exit(3)
"""

SLOW_TOOL = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(30)
"""


def decl(name: str, script: str, tmp_path: Path, *extra: str, timeout_s: float = 10.0) -> ToolDecl:
    path = tmp_path / f"{name}.py"
    path.write_text(script)
    return ToolDecl(name=name, command=(sys.executable, str(path), *extra), timeout_s=timeout_s)


async def test_real_tool_gets_arguments_on_stdin_and_returns_stdout(tmp_path: Path) -> None:
    runner = ToolRunner([decl("weather", ECHO_TOOL, tmp_path)])
    out = await runner.run("weather", '{"city": "Paris"}')
    assert json.loads(out) == {"city": "Paris", "temp_c": 21, "tool": "weather"}


async def test_failing_tool_reports_exit_code_and_last_stderr_line(tmp_path: Path) -> None:
    runner = ToolRunner([decl("weather", FAILING_TOOL, tmp_path)])
    out = json.loads(await runner.run("weather", "{}"))
    assert out == {"error": "tool 'weather' failed with exit code 3: "
                            "weather service unreachable"}


async def test_slow_tool_times_out_and_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    runner = ToolRunner([decl("slow", SLOW_TOOL, tmp_path, str(pid_file), timeout_s=0.5)])
    out = json.loads(await asyncio.wait_for(runner.run("slow", "{}"), timeout=5))
    assert out == {"error": "tool 'slow' timed out after 0.5 s"}
    if pid_file.exists() and pid_file.read_text():
        child = int(pid_file.read_text())
        try:
            pidfd = os.pidfd_open(child)
        except ProcessLookupError:
            pidfd = None  # already gone
        if pidfd is not None:
            try:
                async with asyncio.timeout(2):  # SIGKILL is immediate; the exit may take a moment
                    await _readable(pidfd)
            finally:
                os.close(pidfd)
        assert not _alive(child)


async def test_tiny_timeout(tmp_path: Path) -> None:
    runner = ToolRunner([decl("slow", "import time; time.sleep(30)", tmp_path, timeout_s=0.2)])
    out = json.loads(await runner.run("slow", "{}"))
    assert out == {"error": "tool 'slow' timed out after 0.2 s"}


async def _readable(fd: int) -> None:
    """Return once `fd` is readable: a pidfd when its process has exited, a FIFO when written."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


async def test_undeclared_tool_is_refused_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner = ToolRunner([decl("touch", f"open({str(marker)!r}, 'w')", tmp_path)])
    out = json.loads(await runner.run("rm_rf", "{}"))
    assert out == {"error": "tool 'rm_rf' is not declared"}
    assert not marker.exists()


@pytest.mark.parametrize(("arguments", "why"), [
    ("{not json", "arguments are not valid JSON"),
    ("[1, 2]", "arguments must be a JSON object"),
])
async def test_bad_arguments_are_refused(tmp_path: Path, arguments: str, why: str) -> None:
    runner = ToolRunner([decl("weather", ECHO_TOOL, tmp_path)])
    assert json.loads(await runner.run("weather", arguments)) == {"error": f"tool 'weather': {why}"}


async def test_empty_arguments_mean_an_empty_object(tmp_path: Path) -> None:
    runner = ToolRunner([decl("args", "import sys; print(sys.stdin.read())", tmp_path)])
    assert await runner.run("args", "") == "{}"


async def test_missing_program(tmp_path: Path) -> None:
    runner = ToolRunner([ToolDecl(name="ghost", command=(str(tmp_path / "nope"),))])
    out = json.loads(await runner.run("ghost", "{}"))
    assert out["error"].startswith("tool 'ghost' could not start")


async def test_tool_that_ignores_stdin_and_huge_output(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write('x' * 1_000_000)"
    runner = ToolRunner([decl("big", script, tmp_path)], max_output_bytes=1000)
    assert await runner.run("big", json.dumps({"pad": "y" * 200_000})) == "x" * 1000


async def test_killed_by_signal(tmp_path: Path) -> None:
    runner = ToolRunner([decl("die", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
                              tmp_path)])
    out = json.loads(await runner.run("die", "{}"))
    assert out == {"error": "tool 'die' was killed by SIGTERM"}


async def test_cancelled_run_kills_the_tool(tmp_path: Path) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    script = f"import os, time; open({str(fifo)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    runner = ToolRunner([decl("slow", script, tmp_path)])
    task = asyncio.create_task(runner.run("slow", "{}"))
    # Opened for writing too, so the FIFO never reads as closed before the tool opens it.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        async with asyncio.timeout(10):
            await _readable(fd)  # the tool is running and has written its pid
        pid = int(os.read(fd, 64))
    finally:
        os.close(fd)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(pid)


# ------------------------------------------------------------------ declarations


def test_decl_from_table_accepts_a_command_string() -> None:
    d = ToolDecl.from_table({"name": "w", "command": "python3 -c 'print(1)'", "timeout_s": 2,
                             "description": "d",
                             "parameters": {"type": "object", "properties": {}}}, "f: tools[1]")
    assert d.command == ("python3", "-c", "print(1)")
    assert d.timeout_s == 2.0
    assert d.spec().render()["name"] == "w"


def test_decl_expands_home_in_the_program() -> None:
    d = ToolDecl.from_table({"name": "w", "command": ["~/bin/x", "~"]}, "f")
    assert d.command == (os.path.expanduser("~/bin/x"), "~")


@pytest.mark.parametrize(("table", "message"), [
    ({"command": ["x"]}, "f: tools[1].name: must be 1-64"),
    ({"name": "has space", "command": ["x"]}, "tools[1].name"),
    ({"name": "end_conversation", "command": ["x"]}, "end_conversation is built in"),
    ({"name": "w"}, "tools[1].command: must be an argv list"),
    ({"name": "w", "command": []}, "tools[1].command: must not be empty"),
    ({"name": "w", "command": "a 'b"}, "tools[1].command: No closing quotation"),
    ({"name": "w", "command": ["x"], "timeout_s": 0}, "tools[1].timeout_s: must be a positive number"),
    ({"name": "w", "command": ["x"], "timeout_s": True}, "tools[1].timeout_s"),
    ({"name": "w", "command": ["x"], "parameters": {"type": "string"}}, "tools[1].parameters"),
    ({"name": "w", "command": ["x"], "shell": True}, "tools[1]: unknown key 'shell'"),
])
def test_decl_errors_name_the_field(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ToolDecl.from_table(table, "f: tools[1]")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicate_names_refused() -> None:
    tools = [ToolDecl(name="a", command=("x",)), ToolDecl(name="a", command=("y",))]
    with pytest.raises(ConfigError, match="declared twice"):
        check_unique(tools, "f")


async def test_a_tool_sees_none_of_rt_s_api_keys(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
    for name in names:
        monkeypatch.setenv(name, f"secret-{name}")
    monkeypatch.setenv("RT_TEST_PLAIN", "kept")
    script = "import json, os; print(json.dumps(sorted(os.environ)))"
    runner = ToolRunner([decl("env_tool", script, tmp_path)])
    seen = json.loads(await runner.run("env_tool", "{}"))
    assert "RT_TEST_PLAIN" in seen and not set(names) & set(seen)
