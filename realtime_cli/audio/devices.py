"""List PortAudio devices and resolve a user's device spec to one of them.

A spec is None (the default device), an index (int or digits), or a case-insensitive substring of
a device name; an exact name wins over substrings. `pulse:NAME` picks the ALSA `pulse` device
and routes the stream to the PulseAudio sink (output) or source (input) NAME: Debian's
PortAudio has no PulseAudio host API, only the ALSA `pulse`/`default` devices, and the pulse
ALSA plugin takes its target from $PULSE_SINK / $PULSE_SOURCE when the stream is opened
(`routed()` sets them for the duration of the open). The test sound server's 48 kHz stereo
sink is `pulse:rt_sink48`, its monitor `pulse:rt_sink48.monitor`.

sounddevice is imported lazily: `rt --help` must not pay for it, and a machine without
libportaudio2 gets an AudioDeviceError, not an ImportError.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from realtime_cli.errors import AudioDeviceError

if TYPE_CHECKING:
    from types import ModuleType

Kind = Literal["input", "output"]

NO_DEVICE_HINT = "is a sound server running? (`make sound-up` starts the test one)"
PULSE_PREFIX = "pulse:"
_ENV = {"output": "PULSE_SINK", "input": "PULSE_SOURCE"}
_env_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False
    pulse_target: str | None = None  # PulseAudio sink/source for the ALSA `pulse` device

    def channels(self, kind: Kind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels

    @property
    def label(self) -> str:
        target = f" -> {self.pulse_target}" if self.pulse_target else ""
        return f"#{self.index} {self.name!r}{target}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "hostapi": self.hostapi,
            "max_input_channels": self.max_input_channels,
            "max_output_channels": self.max_output_channels,
            "default_samplerate": self.default_samplerate,
            "is_default_input": self.is_default_input,
            "is_default_output": self.is_default_output,
        }


def sounddevice() -> ModuleType:
    """The sounddevice module, or AudioDeviceError when PortAudio is missing."""
    try:
        import sounddevice as sd
    except OSError:
        raise AudioDeviceError(
            "no audio device; the PortAudio library is missing (apt-get install libportaudio2)"
        ) from None
    return sd  # type: ignore[no-any-return]


def rescan() -> None:
    """Make PortAudio enumerate devices again (it lists them once, at initialisation).

    Only safe while no stream is open; used after starting a sound server in-process.
    """
    sd = sounddevice()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[DeviceInfo]:
    sd = sounddevice()
    hostapis = sd.query_hostapis()
    default_in, default_out = _defaults(sd)
    return [
        DeviceInfo(
            index=d["index"],
            name=d["name"],
            hostapi=hostapis[d["hostapi"]]["name"],
            max_input_channels=d["max_input_channels"],
            max_output_channels=d["max_output_channels"],
            default_samplerate=float(d["default_samplerate"]),
            is_default_input=d["index"] == default_in,
            is_default_output=d["index"] == default_out,
        )
        for d in sd.query_devices()
    ]


def _defaults(sd: ModuleType) -> tuple[int, int]:
    found = []
    for kind in ("input", "output"):
        try:
            found.append(int(sd.query_devices(kind=kind)["index"]))
        except (sd.PortAudioError, ValueError):
            found.append(-1)
    return found[0], found[1]


def resolve_device(spec: str | int | None, kind: Kind) -> DeviceInfo:
    """The device a spec names, for `kind`; AudioDeviceError (one line) when none or several."""
    target = None
    if isinstance(spec, str) and spec.lower().startswith(PULSE_PREFIX):
        target = spec[len(PULSE_PREFIX) :].strip() or None
        spec = "pulse"
    info = _resolve(spec, kind)
    return replace(info, pulse_target=target) if target else info


def _resolve(spec: str | int | None, kind: Kind) -> DeviceInfo:
    devices = list_devices()
    if not devices:
        raise AudioDeviceError(f"no audio device; {NO_DEVICE_HINT}")
    usable = [d for d in devices if d.channels(kind) > 0]
    if not usable:
        raise AudioDeviceError(f"no audio {kind} device; {NO_DEVICE_HINT}")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for d in usable:
            if d.is_default_input if kind == "input" else d.is_default_output:
                return d
        return usable[0]
    if isinstance(spec, int) or spec.strip().isdigit():
        return _by_index(int(spec), kind, devices)
    return _by_name(spec.strip(), kind, usable)


def _by_index(index: int, kind: Kind, devices: list[DeviceInfo]) -> DeviceInfo:
    for d in devices:
        if d.index == index:
            if d.channels(kind) == 0:
                raise AudioDeviceError(f"audio device #{index} {d.name!r} has no {kind} channels")
            return d
    known = ", ".join(f"#{d.index} {d.name!r}" for d in devices)
    raise AudioDeviceError(f"no audio device #{index}; devices: {known}")


def _by_name(name: str, kind: Kind, usable: list[DeviceInfo]) -> DeviceInfo:
    wanted = name.lower()
    exact = [d for d in usable if d.name.lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [d for d in usable if wanted in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(f"#{d.index} {d.name!r}" for d in usable)
        raise AudioDeviceError(f"no {kind} device matches {name!r}; {kind} devices: {known}")
    found = ", ".join(f"#{d.index} {d.name!r}" for d in matches)
    raise AudioDeviceError(f"{kind} device {name!r} is ambiguous: {found}; use an index")


@contextmanager
def routed(info: DeviceInfo, kind: Kind) -> Iterator[None]:
    """Open a stream inside this block to route it to `info.pulse_target` (no-op without one)."""
    if info.pulse_target is None:
        yield
        return
    var = _ENV[kind]
    with _env_lock:
        before = os.environ.get(var)
        os.environ[var] = info.pulse_target
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = before


def open_stream(
    info: DeviceInfo, kind: Kind, rate: int, channels: int, block_ms: float,
    callback: Callable[..., None], finished: Callable[[], None], latency: float | str = "low",
    *, raw: bool = False,
) -> Any:
    """A started int16 PortAudio stream on `info`, routed to its PulseAudio target; one-line
    AudioDeviceError when it cannot be opened or started (nothing is left open then).
    `latency`: the device buffer in seconds, or "low" (sounddevice's default "high" adds a block
    on ALSA; "low" gives 2 blocks on the `pulse` device). `raw`: the callback gets PortAudio's
    buffer itself rather than a NumPy array made around it for every block."""
    sd = sounddevice()
    if raw:
        stream_class = sd.RawInputStream if kind == "input" else sd.RawOutputStream
    else:
        stream_class = sd.InputStream if kind == "input" else sd.OutputStream
    stream = None
    try:
        with routed(info, kind):
            stream = stream_class(
                device=info.index,
                samplerate=rate,
                channels=channels,
                dtype="int16",
                blocksize=round(rate * block_ms / 1000),
                latency=latency,
                callback=callback,
                finished_callback=finished,
            )
        stream.start()
        return stream
    except (sd.PortAudioError, ValueError) as exc:
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close(ignore_errors=True)
        raise open_error(exc, info, kind, rate, channels) from None


def open_error(exc: Exception, info: DeviceInfo, kind: Kind, rate: int, channels: int) -> AudioDeviceError:
    """One line for a PortAudio failure to open or start a stream."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "unavailable" in lowered or "busy" in lowered:
        why = "device busy or unavailable"
    elif "sample rate" in lowered or "channels" in lowered or "format" in lowered:
        why = f"unsupported format ({rate} Hz, {channels} ch, int16)"
    elif info.pulse_target:
        noun = "sink" if kind == "output" else "source"
        why = f"cannot open PulseAudio {noun} {info.pulse_target!r} (no such {noun}? see " \
              f"`pactl list short {noun}s`; or the sound server stopped)"
    elif info.name in ("pulse", "default"):
        why = "cannot open (is the sound server still running?)"
    else:
        why = "cannot open"
    return AudioDeviceError(f"{kind} device {info.label}: {why}: {text}")


def stream_format(
    info: DeviceInfo, kind: Kind, samplerate: int | None, channels: int | None
) -> tuple[int, int]:
    """The rate and channel count to open: the ones asked for, else 24 kHz mono when the device
    takes it (no conversion at all), else the device's default rate and up to 2 channels."""
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    max_ch = max(1, info.channels(kind))
    rates = [samplerate] if samplerate else [24_000, int(info.default_samplerate)]
    counts = [channels] if channels else [1, min(2, max_ch)]
    last: Exception | None = None
    with routed(info, kind):
        for rate in rates:
            for ch in counts:
                try:
                    check(device=info.index, samplerate=rate, channels=ch, dtype="int16")
                    return rate, ch
                except (sd.PortAudioError, ValueError) as exc:
                    last = exc
    assert last is not None
    raise open_error(last, info, kind, rates[-1], counts[-1])
