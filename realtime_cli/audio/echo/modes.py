"""The echo modes by name, and the processor for each.

`ECHO_MODES` is the one list of names: the settings and the CLI check `audio.echo` against it.
The processors (numpy, libspeexdsp, pywebrtc-audio) are imported only when one is made, so
reading the names costs `rt --help` and `rt config` nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from realtime_cli.audio.echo.interface import EchoProcessor

ECHO_MODES = ("aec", "aec3", "speex", "half-duplex", "off")
"""Loudspeaker echo handling: cancel the assistant's voice in the microphone (`aec`: the
canceller that measures better, `DEFAULT_CANCELLER`; `aec3`: WebRTC's; `speex`: speexdsp's),
mute the microphone under the assistant's voice unless clearly louder (`half-duplex`), or
nothing (`off`, for headphones)."""

DEFAULT_CANCELLER = "speex"
"""What `aec` means: the canceller that measures better in scripts/echo_sim.py, tuned and
held-out rooms alike (README, echo section): speexdsp, whose pipeline thresholds were tuned on it,
interrupts itself less and hears more barge-ins, sooner; AEC3 suppresses a second voice during
double talk along with the echo (its output correlates 0.55 with the user's voice, speexdsp's
0.97), which costs barge-ins."""

FALLBACK = {"aec3": "speex"}
"""A canceller whose library is missing gives way to this one, when `make_echo` may warn."""


def stderr_warning(message: str) -> None:
    print(f"rt: warning: {message}", file=sys.stderr)


def make_echo(mode: str, rate: int = 24_000, *,
              warn: Callable[[str], None] | None = stderr_warning) -> EchoProcessor:
    """The echo processor for `mode`. A canceller whose library is missing gives way to the one
    `FALLBACK` names (named `aec` when asked for as `aec`), with one line to `warn` (stderr by default: the
    optional AEC3 wheel missing is worth saying, not worth failing); without a fallback, or
    with `warn=None`, it raises `AudioDeviceError`."""
    if mode == "aec":
        return _canceller(DEFAULT_CANCELLER, rate, warn, name="aec")
    if mode in ("aec3", "speex"):
        return _canceller(mode, rate, warn, name=mode)
    if mode == "half-duplex":
        from realtime_cli.audio.echo.half_duplex import HalfDuplex

        return HalfDuplex(rate)
    if mode == "off":
        from realtime_cli.audio.echo.half_duplex import PassThrough

        return PassThrough(rate)
    raise ValueError(f"unknown echo mode {mode!r}: choose one of {', '.join(ECHO_MODES)}")


def _canceller(kind: str, rate: int, warn: Callable[[str], None] | None, *, name: str) -> EchoProcessor:
    from realtime_cli.audio.echo.aec import Aec3, SpeexAec
    from realtime_cli.errors import AudioDeviceError

    try:
        return Aec3(rate, mode=name) if kind == "aec3" else SpeexAec(rate, mode=name)
    except AudioDeviceError as exc:
        other = FALLBACK.get(kind)
        if warn is None or other is None:
            raise
        warn(f"{exc.message}; using --echo {other}")
        return _canceller(other, rate, warn, name=other if name == kind else name)
