"""What rt treats as a credential, in one place: the config file refuses such keys, and the
journal drops them (and redacts key-like text) before a session's config reaches the disk.

A name is secret when, lower-cased with `-` read as `_`, it is one of `SECRET_NAMES`, contains
`api_key` or `apikey`, or ends in `_token`, `_secret` or `_password` (`max_output_tokens` ends in
`_tokens` and is not a secret). Text is key-like when it holds an OpenAI key (`sk-...`), an
ephemeral key (`ek_...`) or a `Bearer ...` credential.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_NAMES = frozenset(
    {
        "key",
        "token",
        "secret",
        "password",
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "cookies",
        "ephemeral_key",
        # Whole header maps: any of their values may be an Authorization header.
        "headers",
        "extra_headers",
        "additional_headers",
    }
)
_SECRET_PARTS = ("api_key", "apikey")
_SECRET_SUFFIXES = ("_token", "_secret", "_password")
# OpenAI keys and ephemeral keys, bearer tokens, Google API keys (AIza...) and Google's newer
# "AQ." access tokens, and a key given as a URL query parameter.
_KEY_LIKE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+|ek_[A-Za-z0-9_\-]{8,}"
                       r"|AIza[A-Za-z0-9_\-]{20,}|AQ\.[A-Za-z0-9_\-.]{16,}"
                       r"|(?<=[?&]key=)[^&#\s]+)")
REDACTED = "[redacted]"


def is_secret_name(key: str) -> bool:
    """Whether a setting or config key named `key` would hold a credential."""
    k = key.lower().replace("-", "_")
    return k in SECRET_NAMES or any(p in k for p in _SECRET_PARTS) or k.endswith(_SECRET_SUFFIXES)


def redact_key_like(text: str) -> str:
    return _KEY_LIKE.sub(REDACTED, text)


def scrub_secrets(value: Any) -> Any:
    """A copy of a config value without credentials: secret-named keys are dropped at any depth
    and key-like strings are redacted. Defence in depth; callers should not pass secrets in the
    first place."""
    if isinstance(value, dict):
        return {str(k): scrub_secrets(v) for k, v in value.items() if not is_secret_name(str(k))}
    if isinstance(value, list | tuple):
        return [scrub_secrets(v) for v in value]
    if isinstance(value, str):
        return redact_key_like(value)
    return value
