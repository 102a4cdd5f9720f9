"""Where each subcommand (`rt talk`, `rt serve`, ...) is attached to the app, one line per module."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from realtime_cli.cli import serve_cmd

    app.command("serve")(serve_cmd.serve)
    from realtime_cli.cli import devices_cmd

    app.command("devices")(devices_cmd.devices)
    from realtime_cli.cli import doctor_cmd

    app.command("doctor")(doctor_cmd.doctor)
    from realtime_cli.cli import sessions_cmd, stats_cmd

    app.add_typer(sessions_cmd.sessions_app, name="sessions")
    app.command("stats")(stats_cmd.stats)
    from realtime_cli.cli import talk_cmd

    app.command("talk", help=talk_cmd.TALK_HELP)(talk_cmd.talk)
    app.command("resume")(talk_cmd.resume)
    from realtime_cli.cli import config_cmd

    app.add_typer(config_cmd.config_app, name="config")
