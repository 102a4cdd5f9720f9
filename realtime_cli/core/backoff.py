"""Reconnect policy: which closes are worth a retry, and how long to wait (websockets' idea).

Close codes follow the openai SDK's retry set (docs/protocol.md#connection-and-close-codes);
4000 means the server refused the beta protocol shape and will refuse again, so it is fatal.
"""

from __future__ import annotations

RETRYABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
FATAL_CLOSE_CODES = frozenset({4000, 1008})
FATAL_ERROR_CODES = frozenset({
    "invalid_api_key", "beta_api_shape_disabled", "model_not_found", "insufficient_quota",
    "invalid_model",
})

BASE_DELAY_S = 0.5
MAX_DELAY_S = 8.0


def is_retryable_close(code: int | None) -> bool:
    """A drop without a close frame (None) is always worth a retry."""
    return code is None or code in RETRYABLE_CLOSE_CODES


def backoff_delay(attempt: int, jitter: float) -> float:
    """Delay before try number `attempt` (1-based): exponential, capped, with jitter in [0, 1).

    The first retry is quick (the common case is a momentary drop); jitter keeps many clients
    from reconnecting in lockstep after a server restart.
    """
    if attempt <= 1:
        return 0.1 + 0.2 * jitter
    base = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** (attempt - 2))
    return base * (0.5 + 0.5 * jitter)
