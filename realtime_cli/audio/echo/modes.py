"""The echo modes by name, and the processor for each.

`ECHO_MODES` is the one list of names: the settings and the CLI check `audio.echo` against it.
The processors (numpy, libspeexdsp) are imported only when one is made, so reading the names
costs `rt --help` and `rt config` nothing.
"""

from __future__ import annotations

from realtime_cli.audio.echo.interface import EchoProcessor

ECHO_MODES = ("aec", "half-duplex", "off")
"""Loudspeaker echo handling: cancel the assistant's voice in the microphone (`aec`), mute the
microphone under the assistant's voice unless clearly louder (`half-duplex`), or nothing (`off`,
for headphones)."""


def make_echo(mode: str, rate: int = 24_000) -> EchoProcessor:
    """The echo processor for `mode`; `aec` raises `AudioDeviceError` without libspeexdsp."""
    if mode == "aec":
        from realtime_cli.audio.echo.aec import SpeexAec

        return SpeexAec(rate)
    if mode == "half-duplex":
        from realtime_cli.audio.echo.half_duplex import HalfDuplex

        return HalfDuplex(rate)
    if mode == "off":
        from realtime_cli.audio.echo.half_duplex import PassThrough

        return PassThrough(rate)
    raise ValueError(f"unknown echo mode {mode!r}: choose one of {', '.join(ECHO_MODES)}")
