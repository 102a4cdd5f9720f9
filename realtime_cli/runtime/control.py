"""The command channel: `rt talk --control stdin` takes one JSON object per line.

    {"cmd": "interrupt"}           cut the assistant off (a manual cancel)
    {"cmd": "say", "text": "..."}  a typed user turn
    {"cmd": "pause"} {"cmd": "resume"} {"cmd": "mute"} {"cmd": "unmute"} {"cmd": "quit"}

Scripts and tests reach through it what only the dashboard's keys reach otherwise. A line that
is not one of these gets one error line (on stderr, or a JSON `error` object on stdout with
--json) and the session goes on. The end of the input leaves the session running: it ends as
it would without the channel (--duration, --max-turns, a timeout, a signal).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from realtime_cli.core import inputs as inp
from realtime_cli.errors import ConfigError

if TYPE_CHECKING:
    from realtime_cli.runtime.runner import Runner

CONTROL_SOURCES = ("stdin",)
ACTIONS: dict[str, inp.Action] = {
    "interrupt": inp.Action.INTERRUPT, "say": inp.Action.SEND_TEXT, "pause": inp.Action.PAUSE,
    "resume": inp.Action.RESUME, "mute": inp.Action.MUTE, "unmute": inp.Action.UNMUTE,
    "quit": inp.Action.QUIT,
}


@dataclass(frozen=True, slots=True)
class ControlCommand:
    action: inp.Action
    text: str | None = None


def parse_command(line: str) -> ControlCommand:
    """One line of the channel as a command; ConfigError (one line saying why) otherwise."""
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError('expected an object such as {"cmd": "interrupt"}')
    name = data.get("cmd")
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        raise ConfigError(f"unknown cmd {name!r} (one of {', '.join(ACTIONS)})")
    unknown = sorted(set(data) - ({"cmd", "text"} if name == "say" else {"cmd"}))
    if unknown:
        raise ConfigError(f"{name}: unexpected field(s) {', '.join(unknown)}")
    if action is not inp.Action.SEND_TEXT:
        return ControlCommand(action)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError('say needs "text": a non-empty string')
    return ControlCommand(action, text)


class ControlErrors:
    """Where a bad line is told: one line on `err`, or one JSON object on `out` in JSON mode
    (the stream a script already reads)."""

    def __init__(self, *, json_lines: bool, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def report(self, elapsed: float, line: str, message: str) -> None:
        if self.json_lines:
            print(json.dumps({"t": round(elapsed, 3), "event": "error", "source": "control",
                              "text": message, "line": line}, ensure_ascii=False),
                  file=self.out, flush=True)
        else:
            print(f"rt: control: {message}: {line}", file=self.err, flush=True)


async def control_loop(runner: Runner, stream: TextIO, errors: ControlErrors) -> None:
    """Feed each line of `stream` to the runner's core as a user command. The lines are read
    by a daemon thread: a blocking read never holds up the end of the session."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for raw in stream:
                loop.call_soon_threadsafe(lines.put_nowait, raw)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except (RuntimeError, OSError, ValueError):  # the loop or the stream closed first
            return

    threading.Thread(target=read, name="rt-control", daemon=True).start()
    while (raw := await lines.get()) is not None:
        line = raw.strip()
        if not line:
            continue
        try:
            command = parse_command(line)
        except ConfigError as exc:
            errors.report(runner.elapsed(), line, exc.message)
            continue
        runner.feed(inp.UserCommand(now=runner.clock.monotonic(), action=command.action,
                                    text=command.text))
