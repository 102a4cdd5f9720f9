"""`ServerOptions`: every knob of `rt serve`, shared by the CLI and the in-process test API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from realtime_cli.server.response_faults import ResponseFault

DEFAULT_PORT = 8765
DEFAULT_SESSION_SECONDS = 3600.0  # GA sessions last 60 minutes (docs/protocol.md#session-expiry-and-rollover)

VoiceEngine = Literal["auto", "espeak", "synthetic"]
# What published GA logs show (docs/protocol.md#responses-and-output-audio): the input
# transcription about 600 ms after the commit, about 2 s of answer audio at once.
DEFAULT_TRANSCRIPTION_DELAY_MS = 600.0
DEFAULT_BURST_MS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How one `rt serve` instance behaves.

    Times are seconds unless the name says `_ms`. `pace` is the speed of audio streaming
    relative to real time: 4.0 sends 1 s of reply audio every 0.25 s; 0 sends as fast as the
    socket takes it. The first `burst_ms` of each answer's audio go out at once, before the
    pacing starts, as the service sends them.

    Fault and scenario knobs: `preamble` makes every answer to a user turn start with that spoken
    message (a second output item: a spoken message then the answer, or then a function call
    with `tool_call`); `fail` ends chosen responses failed or incomplete; `first_audio_delay_ms`
    holds the first audio of each answer back; `drop_on` drops the socket right after the first
    server event of that type (on the connections `fault_connections` names). `seed` makes ids
    and padding repeat from run to run. `refused_keys`: API keys the OpenAI twin refuses as the
    service refuses a bad key, with HTTP 401 on the upgrade (the Gemini twin takes its own in
    `GeminiOptions`, refused its way).
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    expire_after: float = DEFAULT_SESSION_SECONDS
    drop_after: float | None = None
    fault_connections: int | None = None  # expire/drop only the first N connections
    garbage: bool = False
    latency_ms: float = 0.0
    pace: float = 4.0
    chunk_ms: int = 100
    script: tuple[str, ...] = ()
    tool_call: str | None = None
    record: Path | None = None
    voice_engine: VoiceEngine = "auto"
    model: str = "gpt-realtime"
    seed: int | None = None
    transcription_delay_ms: float = DEFAULT_TRANSCRIPTION_DELAY_MS
    burst_ms: int = DEFAULT_BURST_MS
    preamble: str | None = None
    fail: tuple[ResponseFault, ...] = ()
    first_audio_delay_ms: float = 0.0
    drop_on: str | None = None
    refused_keys: frozenset[str] = frozenset()  # answered with HTTP 401 on the upgrade
    log: Callable[[str], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        from realtime_cli.errors import ConfigError

        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port}")
        if self.expire_after <= 0:
            raise ConfigError(f"--expire-after must be positive, got {self.expire_after:g}")
        if self.drop_after is not None and self.drop_after <= 0:
            raise ConfigError(f"--drop-after must be positive, got {self.drop_after:g}")
        if self.fault_connections is not None and self.fault_connections < 1:
            raise ConfigError(f"--fault-connections must be 1 or more, got {self.fault_connections}")
        if self.latency_ms < 0:
            raise ConfigError(f"--latency must be 0 or more, got {self.latency_ms:g}")
        if self.pace < 0:
            raise ConfigError(f"--pace must be 0 (as fast as possible) or more, got {self.pace:g}")
        if not 10 <= self.chunk_ms <= 1000:
            raise ConfigError(f"--chunk-ms must be between 10 and 1000, got {self.chunk_ms}")
        if self.transcription_delay_ms < 0:
            raise ConfigError(f"--transcription-delay must be 0 or more, got "
                              f"{self.transcription_delay_ms:g}")
        if self.burst_ms < 0:
            raise ConfigError(f"--burst-ms must be 0 or more, got {self.burst_ms}")
        if self.first_audio_delay_ms < 0:
            raise ConfigError(f"--first-audio-delay must be 0 or more, got "
                              f"{self.first_audio_delay_ms:g}")
        if self.preamble is not None and not self.preamble.strip():
            raise ConfigError("--preamble must say something")
