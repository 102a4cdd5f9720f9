"""Where every command is attached to the app; one line per command module."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from realtime_cli.cli import serve_cmd

    app.command("serve")(serve_cmd.serve)
