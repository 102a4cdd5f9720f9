"""A refused API key, however the provider says so, ends the run as `errors.KeyRejected`
(exit 2): a configuration for the user to fix, as a key that is not set is.

The session core ends every fatal refusal the same way (a transport failure, exit 3); it does
not know which of them concern the key. The runner feeds it the refusal as usual and, when the
session ends on that very input, raises the `KeyRejected` found here instead.

- OpenAI: HTTP 401 on the upgrade (`transport/websocket.py` raises `KeyRejected` itself,
  docs/protocol.md#connection-and-close-codes), or an `error` event with code
  `invalid_api_key`.
- Gemini Live: the upgrade succeeds and the connection closes at the setup with "API key not
  valid. Please pass a valid API key." (docs/protocol.md#gemini-live: the wording is the
  service's, the close code 1007 is not confirmed), so the reason is matched, whatever the code;
  a connection that sent no key at all (allowed on this machine) is closed with "Method doesn't
  allow unregistered callers ..." (1008).
"""

from __future__ import annotations

from realtime_cli.errors import KeyRejected
from realtime_cli.protocol import events as ev
from realtime_cli.transport.endpoint import Endpoint
from realtime_cli.transport.gemini_endpoint import KEY_VARIABLES

GEMINI_BAD_KEY = "api key not valid"  # the service's close reasons, lower case
GEMINI_NO_KEY = "doesn't allow unregistered callers"
OPENAI_BAD_KEY_CODE = "invalid_api_key"


def close_refusal(provider: str, endpoint: Endpoint, code: int | None,
                  reason: str) -> KeyRejected | None:
    """The error a close means when it refuses the key, else None."""
    if provider != "gemini":
        return None
    how = f"close {code}" if code is not None else "closed"
    if GEMINI_BAD_KEY in reason.lower():
        return KeyRejected(f"{how} from {endpoint.host}: the {endpoint.key_name} was "
                           f"rejected ({reason})")
    if GEMINI_NO_KEY in reason.lower():
        return KeyRejected(f"{how} from {endpoint.host}: no API key was sent (set "
                           f"{' or '.join(KEY_VARIABLES)})")
    return None


def event_refusal(endpoint: Endpoint, event: ev.ServerEvent) -> KeyRejected | None:
    """The error a server event means when it refuses the key, else None."""
    if not isinstance(event, ev.ServerError) or event.code != OPENAI_BAD_KEY_CODE:
        return None
    return KeyRejected(f"{endpoint.host}: the {endpoint.key_name} was rejected "
                       f"({event.message})")
