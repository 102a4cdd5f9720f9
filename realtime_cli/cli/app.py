"""The Typer app: global flags, command registration and the one error boundary.

Start-up must stay fast (`rt --help` goal <= 150 ms): the commands are imported only when used
(`subcommands`), and their modules import numpy, sounddevice, websockets and sqlite only inside
the command functions.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from realtime_cli import __version__
from realtime_cli.cli.subcommands import LazyCommands
from realtime_cli.errors import RtError

app = typer.Typer(
    name="rt",
    cls=LazyCommands,
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Talk to a realtime speech-to-speech model from your terminal.

    [bold]Examples[/]

      rt serve --port 8765                            # offline, no key

      rt talk --url ws://127.0.0.1:8765/v1/realtime   # talk to it

      rt talk                                         # OpenAI (OPENAI_API_KEY)

      rt sessions list

      rt resume 3f2a
    """


def _click_exceptions() -> tuple[type[Exception], type[Exception]]:
    """(ClickException, click's Exit) as this typer raises them: typer >= 0.2x vendors click as
    `typer._click` (and `click` may not be installed at all); older typer uses `click` itself."""
    try:
        from typer._click.exceptions import ClickException

        return ClickException, typer.Exit
    except ImportError:
        import click

        return click.exceptions.ClickException, click.exceptions.Exit


def _usage_line(exc: Exception) -> str:
    """Click's usage error (Usage / Try / Error on four lines) as the one line rt prints for
    every error: `rt: No such option: --bogus (try 'rt talk --help')`."""
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "rt"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if not message.strip():  # `rt` or `rt sessions` alone: the help was printed, nothing is wrong
        return ""
    return f"rt: {message} (try '{path} --help')"


def main() -> None:
    """Console-script entry point; a device close left hanging by the teardown must not turn
    the exit into PortAudio's abort at interpreter shutdown."""
    code = 0
    try:
        _run()
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        raise
    finally:
        teardown = sys.modules.get("realtime_cli.runtime.teardown")  # loaded only if rt talked
        if teardown is not None:
            teardown.exit_past_abandoned_steps(code)


def _run() -> None:
    """Run the app, turn RtError into one line and an exit code."""
    try:
        # Non-standalone mode returns a command's `typer.Exit(code)` instead of raising it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except RtError as exc:
        if os.environ.get("RT_DEBUG"):
            raise
        typer.secho(f"rt: {exc.message}", err=True, fg="red")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        usage_error, click_exit = _click_exceptions()
        if isinstance(exc, usage_error):
            if line := _usage_line(exc):
                typer.secho(line, err=True, fg="red")
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if isinstance(exc, click_exit):
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if os.environ.get("RT_DEBUG"):
            raise
        typer.secho(f"rt: internal error: {type(exc).__name__}: {exc}", err=True, fg="red")
        typer.echo("rt: run again with RT_DEBUG=1 for the traceback", err=True)
        sys.exit(70)
