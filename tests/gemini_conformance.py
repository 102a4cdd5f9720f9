"""Conformance of Gemini Live wire JSON with the `google-genai` package's Live types.

The SDK's pydantic models (`LiveClientMessage`, `LiveServerMessage`) forbid unknown fields
already, but they also accept snake_case names and drop nulls, which the wire never carries.
So a message conforms when it validates (as JSON, so `bytes` fields are checked as base64) and
dumping the validated model in camelCase without nulls gives the message back unchanged.
Both services and clients send exactly one message field (the server may add
`usageMetadata`), which the types do not enforce; that is checked too.

Public API (import it from tests as `from gemini_conformance import ...`):

    validate_client_message(message: dict) -> LiveClientMessage
    validate_server_message(message: dict) -> LiveServerMessage
    GeminiConformanceError   an AssertionError with a readable message
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from google.genai import types

__all__ = ["GeminiConformanceError", "validate_client_message", "validate_server_message"]

Model = TypeVar("Model", bound=pydantic.BaseModel)
SERVER_EXTRA = "usageMetadata"  # may ride along with any other server message


class GeminiConformanceError(AssertionError):
    """A wire message the SDK's Live types reject, or that they would not write back as is."""


def _validate(model: type[Model], message: dict[str, Any], extra: str | None) -> Model:
    shown = json.dumps(message)[:300]
    try:
        parsed = model.model_validate_json(json.dumps(message))
    except pydantic.ValidationError as exc:
        raise GeminiConformanceError(f"{model.__name__} rejects {shown}: {exc}") from None
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    if dumped != message:
        raise GeminiConformanceError(
            f"{model.__name__} does not write {shown} back as it is (snake_case or null "
            f"fields?): {json.dumps(dumped)[:300]}")
    fields = [name for name in message if name != extra]
    if len(fields) != 1 and not (extra is not None and not fields):
        raise GeminiConformanceError(f"a message sets exactly one field, not {fields}: {shown}")
    return parsed


def validate_client_message(message: dict[str, Any]) -> types.LiveClientMessage:
    return _validate(types.LiveClientMessage, message, None)


def validate_server_message(message: dict[str, Any]) -> types.LiveServerMessage:
    return _validate(types.LiveServerMessage, message, SERVER_EXTRA)
