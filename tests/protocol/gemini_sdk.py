"""The google-genai Live types as the Gemini API's wire takes them, for the codec's tests.

The SDK's pydantic models forbid unknown keys but also accept snake_case names, and decode
base64 only from JSON; so a message is checked twice, as `conformance.py` does for OpenAI:

1. `Model.model_validate_json(json.dumps(message))`: types, base64, no extra keys, and enum
   values (the SDK's enums only warn of an unknown value; the warning fails the check here);
2. `conformance.unknown_keys` on the message as sent: every key, at every depth, must be the
   camelCase name the service documents (a snake_case name is reported as unknown).

Where the wire and the SDK's types differ, the SDK's own converters are followed:

- `setup` carries `realtimeInputConfig`, which `_LiveConnectConfig_to_mldev` writes but
  `LiveClientSetup` does not model: `WireClientMessage` adds it (as `RealtimeInputConfig`);
- `voiceActivity` names its kind `type` on the wire (`_VoiceActivity_from_mldev` reads it into
  `voice_activity_type`): the server check renames it the same way before validating.

(`tests/gemini_conformance.py` checks the twin's messages by a round trip through the same
types; it has neither of these two wire differences, which the twin does not use.)
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pydantic
from conformance import ConformanceError, unknown_keys
from google.genai import types


class WireSetup(types.LiveClientSetup):
    """`setup` as the SDK sends it to the Gemini API: `LiveClientSetup` and `realtimeInputConfig`."""

    realtime_input_config: types.RealtimeInputConfig | None = None


class WireClientMessage(types.LiveClientMessage):
    setup: WireSetup | None = None  # type: ignore[assignment]


WireSetup.model_rebuild()
WireClientMessage.model_rebuild()

CLIENT_FIELDS = frozenset(f.alias or n for n, f in WireClientMessage.model_fields.items())
SERVER_FIELDS = frozenset(f.alias or n for n, f in types.LiveServerMessage.model_fields.items())


def _validate(model: type[pydantic.BaseModel], message: Any, side: str,
              fields: frozenset[str]) -> Any:
    if not isinstance(message, dict) or not message:
        raise ConformanceError(f"a {side} message must be a non-empty JSON object")
    stray = sorted(set(message) - fields)
    if stray:
        raise ConformanceError(f"{side} message fields not in {model.__name__}: {', '.join(stray)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the SDK's enums only warn of a value they lack
            parsed = model.model_validate_json(json.dumps(message))
    except (pydantic.ValidationError, UserWarning) as exc:
        raise ConformanceError(f"rejected by google-genai {model.__name__}:\n{exc}") from None
    extra = unknown_keys(model, message)
    if extra:
        raise ConformanceError(f"keys not in google-genai {model.__name__} (by their camelCase "
                               f"names): {', '.join(extra)}")
    return parsed


def validate_client_message(message: dict[str, Any]) -> types.LiveClientMessage:
    """One client message; the service takes exactly one field per message."""
    parsed = _validate(WireClientMessage, message, "client", CLIENT_FIELDS)
    if len(message) != 1:
        raise ConformanceError(f"a client message has exactly one field, got {sorted(message)}")
    assert isinstance(parsed, types.LiveClientMessage)
    return parsed


def validate_server_message(message: dict[str, Any]) -> types.LiveServerMessage:
    """One server message (`usageMetadata` may come with the content it bills)."""
    if isinstance(message, dict) and isinstance(message.get("voiceActivity"), dict):
        activity = dict(message["voiceActivity"])
        if "type" in activity:
            activity["voiceActivityType"] = activity.pop("type")
        message = {**message, "voiceActivity": activity}
    parsed = _validate(types.LiveServerMessage, message, "server", SERVER_FIELDS)
    assert isinstance(parsed, types.LiveServerMessage)
    return parsed


def validate_client_json(text: str) -> types.LiveClientMessage:
    return validate_client_message(json.loads(text))
