"""Conformance of Gemini Live wire JSON with the `google-genai` package's Live types.

The SDK's pydantic models (`LiveClientMessage`, `LiveServerMessage`) forbid unknown fields
already, but they also accept snake_case names and drop nulls, which the wire never carries.
So a message conforms when it validates (as JSON, so `bytes` fields are checked as base64) and
dumping the validated model in camelCase without nulls gives the message back unchanged
(bytes compared as bytes: the SDK writes URL-safe base64, the wire may carry either alphabet).
`setup.realtimeInputConfig` is the one exception: the SDK writes it on the wire (from
`LiveConnectConfig.realtime_input_config`, in `_live_converters`) but `LiveClientSetup` does not
declare it, so it is checked on its own against `RealtimeInputConfig`.
Both services and clients send exactly one message field (the server may add
`usageMetadata`), which the types do not enforce; that is checked too.

Public API (import it from tests as `from gemini_conformance import ...`):

    validate_client_message(message: dict) -> LiveClientMessage
    validate_server_message(message: dict) -> LiveServerMessage
    GeminiConformanceError   an AssertionError with a readable message
"""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar

import pydantic
from google.genai import types

__all__ = ["GeminiConformanceError", "validate_client_message", "validate_server_message"]

Model = TypeVar("Model", bound=pydantic.BaseModel)
SERVER_EXTRA = "usageMetadata"  # may ride along with any other server message


class GeminiConformanceError(AssertionError):
    """A wire message the SDK's Live types reject, or that they would not write back as is."""


def _validate(model: type[Model], message: dict[str, Any], extra: str | None, *,
              single: bool = True) -> Model:
    shown = json.dumps(message)[:300]
    try:
        parsed = model.model_validate_json(json.dumps(message))
    except pydantic.ValidationError as exc:
        raise GeminiConformanceError(f"{model.__name__} rejects {shown}: {exc}") from None
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not _same(dumped, message):
        raise GeminiConformanceError(
            f"{model.__name__} does not write {shown} back as it is (snake_case or null "
            f"fields?): {json.dumps(dumped)[:300]}")
    fields = [name for name in message if name != extra]
    if single and len(fields) != 1 and not (extra is not None and not fields):
        raise GeminiConformanceError(f"a message sets exactly one field, not {fields}: {shown}")
    return parsed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        try:
            return base64.urlsafe_b64decode(a) == base64.b64decode(b, validate=True)
        except ValueError:
            return False
    return bool(a == b and type(a) is type(b))


def validate_client_message(message: dict[str, Any]) -> types.LiveClientMessage:
    setup = message.get("setup")
    if isinstance(setup, dict) and "realtimeInputConfig" in setup:
        _validate(types.RealtimeInputConfig, setup["realtimeInputConfig"], None, single=False)
        rest = {k: v for k, v in setup.items() if k != "realtimeInputConfig"}
        return _validate(types.LiveClientMessage, {**message, "setup": rest}, None)
    return _validate(types.LiveClientMessage, message, None)


def validate_server_message(message: dict[str, Any]) -> types.LiveServerMessage:
    return _validate(types.LiveServerMessage, message, SERVER_EXTRA)
