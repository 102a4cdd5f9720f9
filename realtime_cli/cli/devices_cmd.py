"""`rt devices`: the input and output devices PortAudio sees, defaults marked.

A rich table on a terminal, plain aligned text otherwise, JSON with `--json`. No device at all
is an AudioDeviceError (one line, exit 4) with a hint, except for `--json`, which prints `[]`.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    from realtime_cli.audio.devices import DeviceInfo

Kind = Literal["input", "output"]
HEADERS = ("", "index", "name", "host API", "channels", "default rate")
FOOTER = "* default. Pick a device by index or name substring; pulse:NAME = a PulseAudio sink/source."


def devices(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the devices as a JSON list of objects.")
    ] = False,
) -> None:
    """List audio input and output devices: index, name, host API, channels, default rate.

    [bold]Examples[/]

      rt devices

      rt devices --json

      rt talk --input-device 3 --output-device pulse
    """
    from realtime_cli.audio.devices import NO_DEVICE_HINT, list_devices
    from realtime_cli.errors import AudioDeviceError

    found = list_devices()
    if as_json:
        typer.echo(json.dumps([d.as_dict() for d in found], indent=2))
        return
    if not found:
        raise AudioDeviceError(f"no audio device; {NO_DEVICE_HINT}")
    sections: list[tuple[Kind, list[DeviceInfo]]] = [
        ("input", [d for d in found if d.max_input_channels > 0]),
        ("output", [d for d in found if d.max_output_channels > 0]),
    ]
    if sys.stdout.isatty():
        _print_rich(sections)
    else:
        _print_plain(sections)


def device_row(d: DeviceInfo, kind: Kind) -> tuple[str, str, str, str, str, str]:
    is_default = d.is_default_input if kind == "input" else d.is_default_output
    return (
        "*" if is_default else "",
        str(d.index),
        d.name,
        d.hostapi,
        str(d.channels(kind)),
        f"{d.default_samplerate:g} Hz",
    )


def _print_plain(sections: list[tuple[Kind, list[DeviceInfo]]]) -> None:
    for kind, items in sections:
        typer.echo(f"{kind.capitalize()} devices:")
        rows = [device_row(d, kind) for d in items]
        if not rows:
            typer.echo("  (none)")
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))] if rows else []
        for row in rows:
            mark, index, name, hostapi, channels, rate = row
            typer.echo(
                f"  {mark or ' '} {index:>{widths[1]}}  {name:<{widths[2]}}  {hostapi:<{widths[3]}}"
                f"  {channels:>{widths[4]}} ch  {rate}"
            )
    typer.echo(FOOTER)


def _print_rich(sections: list[tuple[Kind, list[DeviceInfo]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for kind, items in sections:
        table = Table(title=f"{kind.capitalize()} devices", title_justify="left")
        for header in HEADERS:
            table.add_column(header, justify="right" if header in ("index", "channels") else "left")
        for d in items:
            row = device_row(d, kind)
            table.add_row(*row, style="bold" if row[0] else None)
        console.print(table)
    console.print(FOOTER)
