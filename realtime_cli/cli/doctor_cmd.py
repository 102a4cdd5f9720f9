"""`rt doctor`: will this room and these devices work, and with which echo handling?

Plays a 3 s test signal through the speaker rt would use while recording the microphone rt would
use (`audio.echo.path_probe`), then reads the recording (`audio.echo.room_check`): the echo
path's delay and level, what each canceller leaves, the microphone's noise floor and clipping,
the output latency, and a verdict. `--save` writes the recommended `audio.echo` and
`audio.output_block_ms` into the config file, keeping its other values. About 6 s in all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from realtime_cli.audio.devices import Kind
    from realtime_cli.audio.echo.room_check import RoomReport


def doctor(
    input_device: Annotated[str | None, typer.Option(
        "--input-device", help="Microphone: index or name substring (rt devices); default: the config's.",
    )] = None,
    output_device: Annotated[str | None, typer.Option(
        "--output-device", help="Speaker: index or name substring; default: the config's.")] = None,
    save: Annotated[bool, typer.Option(
        "--save", help="Write the recommended echo mode and output block into the config file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Check the room and the devices: plays a short test signal and listens for its echo.

    Tells whether you need headphones, and which --echo mode to use without them.

    [bold]Examples[/]

      rt doctor

      rt doctor --save

      rt doctor --output-device 3 --json
    """
    from realtime_cli.audio.devices import resolve_device, stream_format
    from realtime_cli.audio.echo.path_probe import play_and_record
    from realtime_cli.audio.echo.room_check import assess, needs_second_probe, second_opinion
    from realtime_cli.audio.native_stderr import install
    from realtime_cli.settings import load_settings

    install()  # alsa-lib's own lines (an underrun) stay off stderr: the report counts them
    settings = load_settings({"input_device": input_device, "output_device": output_device})
    audio = settings.audio
    devices = {}
    wanted: tuple[tuple[Kind, str | None], ...] = (("input", audio.input_device),
                                                   ("output", audio.output_device))
    for kind, spec in wanted:
        info = resolve_device(spec, kind)
        rate, channels = stream_format(info, kind, None, None)
        devices[kind] = {"device": info.label, "hostapi": info.hostapi, "rate": rate, "channels": channels}
    if not as_json:
        typer.echo(f"microphone  {_device_line(devices['input'])}")
        typer.echo(f"speaker     {_device_line(devices['output'])}")
        typer.echo("playing a 3 s test signal: keep the room quiet ...")
    recording = play_and_record(audio.input_device, audio.output_device, block_ms=audio.output_block_ms)
    report = assess(recording, audio.output_block_ms)
    if needs_second_probe(report):
        if not as_json:
            typer.echo("the default canceller fell short: playing it once more ...")
        again = play_and_record(audio.input_device, audio.output_device, block_ms=audio.output_block_ms)
        report = second_opinion(report, assess(again, audio.output_block_ms))
    saved = _save(settings.path, report) if save else None
    if as_json:
        typer.echo(json.dumps({"devices": devices, **report.as_dict(),
                               "saved_to": None if saved is None else str(saved)}, indent=2))
        return
    for line in report_lines(report):
        typer.echo(line)
    if saved is not None:
        typer.echo(f"saved audio.echo = {report.echo_mode!r}, audio.output_block_ms = "
                   f"{report.output_block_ms:g} to {saved}")
    elif report.echo_mode != audio.echo:
        typer.echo(f"run `rt doctor --save` to use --echo {report.echo_mode} from now on")


def _device_line(d: dict[str, Any]) -> str:
    return f"{d['device']} ({d['hostapi']}), {d['rate']} Hz, {d['channels']} ch"


def _db(value: float | None, unit: str = "dBFS") -> str:
    if value is None or not math.isfinite(value):
        return "none (digital silence)" if unit == "dBFS" else "-"
    return f"{value:.1f} {unit}"


def report_lines(r: RoomReport) -> list[str]:
    """The report as the terminal shows it."""
    lines = [
        f"output latency      {r.output_latency_ms:.0f} ms (input {r.input_latency_ms:.0f} ms)"
        + (f", {r.underflows} underflows" if r.underflows else ""),
        f"microphone          noise floor {_db(r.noise_floor_dbfs)}, peak {_db(r.peak_dbfs)}, "
        f"clipped {r.clipped_pct:g} %",
    ]
    if r.echo_found:
        lines.append(f"echo path           {r.echo_delay_ms:.0f} ms, {_db(r.echo_level_db, 'dB')} under the "
                     f"speaker's signal, loudest {_db(r.echo_peak_dbfs)}")
    else:
        lines.append(f"echo path           none heard (loudest {_db(r.echo_peak_dbfs)} while playing)")
    for c in r.cancellers:
        if not c.available:
            lines.append(f"  {c.mode:<17} not available: {c.note}")
            continue
        alone = "" if c.alone_reduction_db is None else f"removes {c.alone_reduction_db:.1f} dB alone; "
        left = "none" if c.echo_left_dbfs is None or not math.isfinite(c.echo_left_dbfs) \
            else f"{c.echo_left_dbfs:.1f} dBFS"
        lines.append(f"  {c.mode:<17} {alone}echo left: {left}")
    lines.append(f"verdict             {r.verdict} (--echo {r.echo_mode}, "
                 f"output block {r.output_block_ms:g} ms)")
    lines += [f"  {reason}" for reason in r.reasons]
    return lines


def _save(path: Path | None, report: RoomReport) -> Path:
    """Set audio.echo and audio.output_block_ms in the config file (created if absent), keeping
    every other value; the file's comments are not kept."""
    from realtime_cli.cli.config_cmd import dump_toml
    from realtime_cli.errors import ConfigError
    from realtime_cli.settings import config_path, read_config_file

    target = path or config_path()
    tree = read_config_file(target) or {}
    audio = tree.setdefault("audio", {})
    audio["echo"] = report.echo_mode
    audio["output_block_ms"] = float(report.output_block_ms)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_toml(tree), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    return target
