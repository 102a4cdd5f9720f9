"""Responses that end badly on purpose (`--fail KIND[:N]`): failed and incomplete answers.

The service ends such a response with `response.done` and a status other than `completed`
(docs/protocol.md#failed-and-incomplete-responses):

- `failed`, with `status_details.error` {type, code, message}: a rate limit, an exhausted
  quota, a server error. The response produces no output.
- `incomplete`, with `status_details.reason`: `max_output_tokens` or `content_filter`. The
  answer stops part way: what was sent so far stays, the item is `incomplete`.

`N` is the number of the response on its connection (1 = the first); without it every response
of every connection ends that way.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime_cli.errors import ConfigError
from realtime_cli.server.wire import JsonDict

# The error of each failure kind. The shape is the SDK's `RealtimeResponseStatus.error`; the
# texts follow the OpenAI API's own messages for these codes (their realtime wording: unverified).
FAILURES: dict[str, JsonDict] = {
    "rate_limit": {
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached for gpt-realtime on tokens per min (TPM): Limit 40000, "
                   "Used 40000, Requested 4096. Please try again in 6.144s.",
    },
    "insufficient_quota": {
        "type": "insufficient_quota",
        "code": "insufficient_quota",
        "message": "You exceeded your current quota, please check your plan and billing details.",
    },
    "server_error": {
        "type": "server_error",
        "code": "server_error",
        "message": "The server had an error while processing your request. Sorry about that!",
    },
}
INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")
KINDS = (*FAILURES, *INCOMPLETE_REASONS)


@dataclass(frozen=True, slots=True)
class ResponseFault:
    """How response number `response` (every response when None) of a connection ends."""

    kind: str
    response: int | None = None

    @property
    def failed(self) -> bool:
        return self.kind in FAILURES

    def applies_to(self, number: int) -> bool:
        return self.response is None or self.response == number

    @classmethod
    def parse(cls, spec: str) -> ResponseFault:
        kind, _, number = spec.partition(":")
        if kind not in KINDS:
            raise ConfigError(f"--fail must be one of {', '.join(KINDS)} (optionally :N), "
                              f"not {spec!r}")
        if not number:
            return cls(kind)
        if not number.isdigit() or int(number) < 1:
            raise ConfigError(f"--fail {spec}: N must be a response number, 1 or more")
        return cls(kind, int(number))


def fault_for(faults: tuple[ResponseFault, ...], number: int) -> ResponseFault | None:
    """The first fault that applies to response `number`, if any."""
    return next((f for f in faults if f.applies_to(number)), None)
