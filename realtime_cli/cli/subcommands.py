"""The subcommands (`rt talk`, `rt serve`, ...), each imported only when it is used.

Importing every command module costs a third of `rt --help`'s start-up (their option types pull
in the config and audio option modules), and `rt sessions list` needs only its own. So the app's
group (`LazyCommands`) knows each command by the table below: it imports a command's module
when that command runs or prints its own help, and `rt --help` lists them from the table's
summaries (tests/cli/test_lazy_commands.py holds each summary to its command's help).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Entry:
    """Where a command lives: `attr` of `realtime_cli.cli.<module>` is the command function, or
    the Typer app of a command group; `help_attr` names a help text kept beside it."""

    module: str
    attr: str
    summary: str  # the first paragraph of its help, as `rt --help` lists it
    help_attr: str | None = None


COMMANDS: dict[str, Entry] = {
    "talk": Entry("talk_cmd", "talk", "Talk with a realtime model. Speak; barge in any time.",
                  help_attr="TALK_HELP"),
    "resume": Entry("talk_cmd", "resume", "Continue a stored conversation (even one that crashed) "
                                          "in a new server session."),
    "sessions": Entry("sessions_cmd", "sessions_app", "List, show, export and delete stored sessions."),
    "stats": Entry("stats_cmd", "stats", "Usage totals: sessions, turns, talk time, interruptions, "
                                         "latency, tokens, cost."),
    "devices": Entry("devices_cmd", "devices", "List audio input and output devices: index, name, "
                                               "host API, channels, default rate."),
    "doctor": Entry("doctor_cmd", "doctor", "Check the room and the devices: plays a short test "
                                            "signal and listens for its echo."),
    "serve": Entry("serve_cmd", "serve", "Run a local, offline server that speaks the GA Realtime "
                                         "protocol."),
    "config": Entry("config_cmd", "config_app", "The config file: where it is, what is in effect, "
                                                "a commented example."),
}


def load(name: str) -> Any:
    """The click command `name` as Typer builds it from its function or sub-app."""
    entry = COMMANDS[name]
    module = importlib.import_module(f"realtime_cli.cli.{entry.module}")
    target = getattr(module, entry.attr)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(rich_markup_mode="rich")
        help_text = getattr(module, entry.help_attr) if entry.help_attr else None
        single.command(name, help=help_text)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    """A group whose commands are imported on first use; its own help lists them by summary."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:  # only its name and summary are read
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name].summary)
        command = load(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
