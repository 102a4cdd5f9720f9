"""The audio options of a run: each one's default, accepted range and unit, written once.

The settings table (`realtime_cli.settings`) takes its audio defaults and checks from here, the
CLI's help quotes the ranges from here, and the devices take the typed `AudioOptions` values
(or default to the ones here), so no device repeats a default or a range check. The echo modes
are the echo package's `ECHO_MODES`. Nothing here imports numpy or PortAudio: `rt config` and
`rt --help` load this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime_cli.audio.echo.modes import ECHO_MODES
from realtime_cli.errors import ConfigError


@dataclass(frozen=True, slots=True)
class NumberOption:
    """A numeric option: its key in the config file, default and inclusive range in `unit`."""

    key: str
    default: float
    low: float
    high: float
    unit: str

    @property
    def span(self) -> str:
        """The range as help text shows it: `60-120 ms`."""
        return f"{self.low:g}-{self.high:g} {self.unit}"

    def check(self, value: float) -> None:
        if not self.low <= value <= self.high:
            raise ConfigError(f"invalid {self.key}: must be between {self.low:g} and {self.high:g}")


PREBUFFER = NumberOption("audio.prebuffer_ms", 80.0, 60.0, 120.0, "ms")
"""Assistant audio queued before playback starts: the margin against the network's jitter, paid
as delay once at the start of each answer."""

OUTPUT_BLOCK = NumberOption("audio.output_block_ms", 20.0, 2.5, 50.0, "ms")
"""The speaker's block. A flush drops what the device holds (audio/playback.py), so the block
does not set how soon the voice stops: in `make bench` 20 ms blocks silenced the voice and placed
the truncation as well as 5 ms blocks did, and 50 callbacks a second cost about 2 % of a core
less than 200."""


@dataclass(frozen=True, slots=True)
class ChoiceOption:
    """An option that takes one of a few words."""

    key: str
    default: str
    choices: tuple[str, ...]

    def check(self, value: str) -> None:
        if value not in self.choices:
            raise ConfigError(f"invalid {self.key}: {value!r} is not one of "
                              f"{', '.join(self.choices)}")


ECHO = ChoiceOption("audio.echo", "aec", ECHO_MODES)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioOptions:
    """What the microphone and the speaker of one run are opened with; checked on creation
    (ConfigError naming the config key), so a device trusts the values it is given."""

    input_device: str | None = None  # index or name substring; None: the system default
    output_device: str | None = None
    prebuffer_ms: float = PREBUFFER.default
    output_block_ms: float = OUTPUT_BLOCK.default
    echo: str = ECHO.default

    def __post_init__(self) -> None:
        ECHO.check(self.echo)
        PREBUFFER.check(self.prebuffer_ms)
        OUTPUT_BLOCK.check(self.output_block_ms)
