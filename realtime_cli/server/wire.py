"""Wire-level helpers: server-side ids, the client-error exception and the `error` event shape.

The error shape is the service's (docs/protocol.md#errors):
`{"type":"error","event_id":...,"error":{"type","code","message","param","event_id"}}`.
"""

from __future__ import annotations

import random
import string
from typing import Any

JsonDict = dict[str, Any]

_ALPHABET = string.ascii_letters + string.digits
_URLSAFE = _ALPHABET + "-_"
_random: random.Random = random.SystemRandom()


def seed(value: int | None) -> None:
    """Make ids and obfuscation padding repeat from run to run (`--seed`); None: unpredictable.

    Several servers in one process share the generator, so a seeded test starts its server
    alone or accepts that the sequence is shared.
    """
    global _random
    _random = random.SystemRandom() if value is None else random.Random(value)


def new_id(prefix: str, length: int = 21) -> str:
    """An id shaped like the real service's (`event_`, `item_`, `resp_`, `sess_` + 21 chars).

    Item ids stay at 26 characters, under the 32-character limit clients must respect.
    """
    return prefix + "_" + "".join(_random.choice(_ALPHABET) for _ in range(length))


def padding(length: int) -> str:
    """`length` URL-safe random characters (the service's `obfuscation` values look like this)."""
    return "".join(_random.choice(_URLSAFE) for _ in range(length))


class ClientError(Exception):
    """A client event was refused; becomes one `error` event, the socket stays open.

    `echo_event_id` says whether `error.event_id` repeats the client's `event_id`; the real
    service leaves it null for some errors (truncate, expiry; docs/protocol.md#errors).
    """

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        *,
        echo_event_id: bool = True,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.echo_event_id = echo_event_id
        self.error_type = error_type


def error_event(err: ClientError, client_event_id: str | None) -> JsonDict:
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": err.error_type,
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "event_id": client_event_id if err.echo_event_id else None,
        },
    }


def quote_list(values: list[str] | tuple[str, ...]) -> str:
    """`'a', 'b', and 'c'` as in the API's "Supported values are: ..." messages."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]
