"""Function tools the user declares in the config file, and the runner that executes them.

A declared tool is a command (an argv list, or a string split with `shlex`, never a shell).
`ToolRunner.run(name, arguments_json)` starts it with the arguments JSON on stdin and returns
its stdout as the result. Every failure (unknown tool, bad JSON arguments, the command missing,
a non-zero exit, a timeout) comes back as a JSON error string such as
`{"error": "tool 'x' timed out after 10 s"}`, for the model to read; `run` never raises for a
tool's fault and never waits past the tool's `timeout_s`. Only declared tools ever run.

The built-in `end_conversation` tool belongs to the session core; it cannot be declared here.

    [[tools]]
    name = "lookup_weather"
    description = "Current weather for a city."
    parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] }
    command = ["python3", "~/bin/weather.py"]     # or "python3 ~/bin/weather.py"
    timeout_s = 10
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.core.config import END_CONVERSATION, ToolSpec
from realtime_cli.errors import ConfigError

DEFAULT_TIMEOUT_S = 10.0
MAX_OUTPUT_BYTES = 64 * 1024
"""Stdout beyond this is dropped (the rest of the tool's output is still drained)."""
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_KEYS = ("name", "description", "parameters", "command", "timeout_s")


def _default_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDecl:
    """One `[[tools]]` entry: what the model sees (`spec()`) plus how to run it."""

    name: str
    command: tuple[str, ...]
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=_default_parameters)
    timeout_s: float = DEFAULT_TIMEOUT_S

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def to_table(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "command": list(self.command),
            "timeout_s": self.timeout_s,
        }

    @classmethod
    def from_table(cls, table: Any, where: str) -> ToolDecl:
        """Validate one config entry; `where` names it in errors (`config.toml: tools[2]`)."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: must be a table with name and command")
        unknown = [k for k in table if k not in TOOL_KEYS]
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} "
                              f"(known: {', '.join(TOOL_KEYS)})")
        name = table.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(f"{where}.name: must be 1-64 letters, digits, _ or -")
        if name == END_CONVERSATION.name:
            raise ConfigError(f"{where}.name: {name} is built in and handled by rt")
        description = table.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}.description: must be a string")
        parameters = table.get("parameters", _default_parameters())
        if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
            raise ConfigError(f"{where}.parameters: must be a JSON Schema table of type object")
        return cls(
            name=name,
            description=description,
            parameters=dict(parameters),
            command=_command(table.get("command"), f"{where}.command"),
            timeout_s=_timeout(table.get("timeout_s", DEFAULT_TIMEOUT_S), f"{where}.timeout_s"),
        )


def _command(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    elif isinstance(value, list) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        raise ConfigError(f"{where}: must be an argv list of strings or a command string")
    if not argv or not argv[0]:
        raise ConfigError(f"{where}: must not be empty")
    return (os.path.expanduser(argv[0]), *argv[1:])


def _timeout(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{where}: must be a positive number of seconds")
    return float(value)


def check_unique(decls: Iterable[ToolDecl], where: str) -> None:
    seen: set[str] = set()
    for decl in decls:
        if decl.name in seen:
            raise ConfigError(f"{where}: tool name {decl.name!r} is declared twice")
        seen.add(decl.name)


def tool_error(message: str) -> str:
    """The JSON string handed back to the model when a tool cannot give a result."""
    return json.dumps({"error": message})


class ToolRunner:
    """Runs declared tools only; every outcome is a string for `function_call_output`."""

    def __init__(self, declared: Iterable[ToolDecl], *,
                 max_output_bytes: int = MAX_OUTPUT_BYTES) -> None:
        self.tools = {d.name: d for d in declared}
        self.max_output_bytes = max_output_bytes

    async def run(self, name: str, arguments_json: str) -> str:
        decl = self.tools.get(name)
        if decl is None:
            return tool_error(f"tool {name!r} is not declared")
        try:
            arguments = json.loads(arguments_json or "{}")
        except (ValueError, RecursionError):
            return tool_error(f"tool {name!r}: arguments are not valid JSON")
        if not isinstance(arguments, dict):
            return tool_error(f"tool {name!r}: arguments must be a JSON object")
        payload = json.dumps(arguments).encode()
        try:
            return await self._execute(decl, payload)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return tool_error(f"tool {name!r} could not start {decl.command[0]!r}: {reason}")

    async def _execute(self, decl: ToolDecl, payload: bytes) -> str:
        proc = await asyncio.create_subprocess_exec(
            *decl.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills its children too
            env={**_tool_environment(), "RT_TOOL_NAME": decl.name},
        )
        finished = False
        try:
            async with asyncio.timeout(decl.timeout_s):
                out, err = await self._exchange(proc, payload)
            finished = True
        except TimeoutError:
            return tool_error(f"tool {decl.name!r} timed out after {decl.timeout_s:g} s")
        finally:
            if not finished:  # timeout or cancellation: nothing of the tool may outlive us
                await _kill_group(proc)
        if proc.returncode != 0:
            return tool_error(f"tool {decl.name!r} {_failure(proc.returncode, err)}")
        return out.decode("utf-8", errors="replace").rstrip("\n")

    async def _exchange(self, proc: asyncio.subprocess.Process,
                        payload: bytes) -> tuple[bytes, bytes]:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_feed(proc.stdin, payload))
            out = tg.create_task(_collect(proc.stdout, self.max_output_bytes))
            err = tg.create_task(_collect(proc.stderr, 4096))
            await proc.wait()
        return out.result(), err.result()


async def _feed(stdin: asyncio.StreamWriter, payload: bytes) -> None:
    try:
        stdin.write(payload)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the tool does not read its arguments: fine
    finally:
        stdin.close()


async def _collect(stream: asyncio.StreamReader, limit: int) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the tool and everything it started (its own process group), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
    await proc.wait()


def _failure(returncode: int | None, stderr: bytes) -> str:
    if returncode is not None and returncode < 0:
        try:
            what = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            what = f"was killed by signal {-returncode}"
    else:
        what = f"failed with exit code {returncode}"
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return f"{what}: {lines[-1][:200]}" if lines else what


SECRET_ENV = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def _tool_environment() -> dict[str, str]:
    """The caller's environment without rt's API keys: a user tool never needs them."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
