"""The one error tree of rt, caught once at the CLI edge (`cli/app.py`).

    RtError                      one-line message + exit code
    ├── ConfigError              bad flag, config file or value (exit 2)
    ├── InvalidTransition        the core was asked for an illegal lifecycle move
    ├── TransportError           network, handshake, server refusal (exit 3)
    │   ├── FatalServerError     beta shape refused, config refused, not found: never retried
    │   │   └── KeyRejected      the server refused the API key (exit 2, as a missing key)
    │   └── TransportClosed      the connection ended; carries the close code and reason
    ├── AudioDeviceError         no device, busy, unsupported format, lost (exit 4)
    └── StorageError             database or export problem (exit 5)
        ├── UnknownSessionError  no session matches an id or prefix
        └── SchemaTooNewError    the database was written by a newer rt

Messages never contain secrets: transports strip keys before raising.
"""

from __future__ import annotations


class RtError(Exception):
    """Base of every error a user can cause or meet; `str()` is the one line shown."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class ConfigError(RtError):
    exit_code = 2


class InvalidTransition(RtError):
    exit_code = 70


class TransportError(RtError):
    exit_code = 3


class FatalServerError(TransportError):
    exit_code = 3


class KeyRejected(FatalServerError):
    """The server refused the API key, however the provider says so (OpenAI: HTTP 401 on the
    upgrade or an `invalid_api_key` error; Gemini Live: a close saying the key is not valid).
    Never retried, and, like a key that is not set, the user's configuration to fix: exit 2."""

    exit_code = 2


class TransportClosed(TransportError):
    """The connection is gone. The session core decides from `code` whether to reconnect, so a
    transport reports every close this way, whatever its library called it."""

    def __init__(self, code: int | None, reason: str) -> None:
        shown = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"connection closed ({shown}{': ' + reason if reason else ''})")
        self.code = code  # None: dropped without a close frame
        self.reason = reason


class AudioDeviceError(RtError):
    exit_code = 4


class StorageError(RtError):
    exit_code = 5


class UnknownSessionError(StorageError):
    exit_code = 5


class SchemaTooNewError(StorageError):
    exit_code = 5
