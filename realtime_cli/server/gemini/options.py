"""`GeminiOptions`: the knobs only the Gemini Live twin has; everything else is `ServerOptions`.

With `--protocol gemini`, `ServerOptions.expire_after` is the length of one connection: the
twin sends `goAway` `go_away_notice` seconds before it (at most half the length), then closes
with 1011 as the service does (docs/protocol.md#rt-serve---protocol-gemini).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_GO_AWAY_NOTICE = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GeminiOptions:
    """`refused_keys`: API keys answered as invalid (close 1007), for bad-key tests; any other
    non-empty key is accepted. `go_away_notice`: the `timeLeft` of `goAway`, in seconds.
    `handle_ttl`: a session's resumption handles expire this many seconds after its last
    connection ended (the service keeps them 2 hours); None keeps them while the twin runs.
    `resumable`: False hands out no handle at all (every `sessionResumptionUpdate` is empty, as
    the service's are while it cannot resume), so a client whose connection ends starts anew."""

    refused_keys: frozenset[str] = frozenset()
    go_away_notice: float = DEFAULT_GO_AWAY_NOTICE
    handle_ttl: float | None = None
    resumable: bool = True

    def __post_init__(self) -> None:
        from realtime_cli.errors import ConfigError

        if self.go_away_notice <= 0:
            raise ConfigError(f"the goAway notice must be positive, got {self.go_away_notice:g}")
        if self.handle_ttl is not None and self.handle_ttl < 0:
            raise ConfigError(f"--handle-ttl must not be negative, got {self.handle_ttl:g}")
