"""Fault injection: junk frames for `--garbage`, and the expiry error of `--expire-after`.

`--garbage` interleaves, after every few real events, one of (in rotation):
1. a text frame that is not valid JSON (a cut-off `response.output_audio.delta`),
2. a well-formed event with an unknown type (`rt_serve.garbage`),
3. a binary frame.
A robust client records and ignores all three and carries on (docs/protocol.md#errors).
`--latency` and `--drop-after` live in `outbox.py` and `app.py`.
"""

from __future__ import annotations

import json

from realtime_cli.server.wire import JsonDict, new_id

GARBAGE_EVERY = 4


class GarbageInjector:
    """Decides when to slip a junk frame between real events, deterministically."""

    def __init__(self, every: int = GARBAGE_EVERY) -> None:
        self.every = every
        self._count = 0
        self._kind = 0

    def after_event(self) -> str | bytes | None:
        self._count += 1
        if self._count % self.every:
            return None
        self._kind = (self._kind + 1) % 3
        if self._kind == 1:
            return '{"type": "response.output_audio.delta", "delta": "UklGRiQAAABXQVZF'
        if self._kind == 2:
            return json.dumps(
                {
                    "type": "rt_serve.garbage",
                    "event_id": new_id("event"),
                    "note": "unknown event type injected by rt serve --garbage",
                }
            )
        return b"\x00\xffrt-serve-garbage\x00"


def expiry_message(seconds: float) -> str:
    """The service's text, "Your session hit the maximum duration of 60 minutes.", with the
    configured length (minutes when whole, else seconds) so it stays true under --expire-after."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        length = f"{minutes} minute{'s' if minutes != 1 else ''}"
    else:
        length = f"{seconds:g} second{'s' if seconds != 1 else ''}"
    return f"Your session hit the maximum duration of {length}."


def expiry_error(seconds: float) -> JsonDict:
    """The `session_expired` error event as the service sends it
    (docs/protocol.md#session-expiry-and-rollover)."""
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": "invalid_request_error",
            "code": "session_expired",
            "message": expiry_message(seconds),
            "param": None,
            "event_id": None,
        },
    }


BETA_CLOSE_CODE = 4000
BETA_CLOSE_REASON = "invalid_request_error.beta_api_shape_disabled"


def beta_error() -> JsonDict:
    """Sent to clients that ask for the retired beta shape (`OpenAI-Beta: realtime=v1`)."""
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": "invalid_request_error",
            "code": "beta_api_shape_disabled",
            "message": (
                "The Realtime API beta shape is disabled. Remove the 'OpenAI-Beta: realtime=v1' "
                "header and use the GA event names."
            ),
            "param": None,
            "event_id": None,
        },
    }
