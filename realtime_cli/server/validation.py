"""Client event validation: the GA schema of the 11 client events (docs/protocol.md).

`parse_client_event(text)` turns one text frame into a checked event dict or raises
`ClientError`. Checks that need connection state (does an item exist, is the voice already
fixed) live in the connection handlers; everything that depends only on the event is here.

Deliberate limits of `rt serve` (refused with a clear `invalid_value`, not silently ignored):
G.711 formats (`audio/pcmu`, `audio/pcma`), MCP items, `session.type:"transcription"`.
"""

from __future__ import annotations

import json
from typing import Any

from realtime_cli.server.schema import (
    AnyValue,
    Arr,
    Bool,
    ByType,
    Node,
    Nullable,
    Num,
    Obj,
    Str,
    Tagged,
)
from realtime_cli.server.wire import ClientError, JsonDict, quote_list

VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
)
CLIENT_EVENT_TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)
MAX_ITEM_ID = 32
MAX_APPEND_BASE64 = 15 * 1024 * 1024  # 15 MiB per append (docs/protocol.md#input-audio-and-vad)

_EVENT_ID = Str()


def _fmt() -> Node:
    return Tagged(
        "type",
        {
            "audio/pcm": Obj({"type": Str(), "rate": Num(integer=True, choices=[24000])}),
            "audio/pcmu": Obj({"type": Str()}),
            "audio/pcma": Obj({"type": Str()}),
        },
    )


_SERVER_VAD = Obj(
    {
        "type": Str(),
        "threshold": Num(0.0, 1.0),
        "prefix_padding_ms": Num(0, 10_000, integer=True),
        "silence_duration_ms": Num(0, 10_000, integer=True),
        "idle_timeout_ms": Nullable(Num(0, 30_000, integer=True)),
        "create_response": Bool(),
        "interrupt_response": Bool(),
    }
)
_SEMANTIC_VAD = Obj(
    {
        "type": Str(),
        "eagerness": Str(choices=["low", "medium", "high", "auto"]),
        "create_response": Bool(),
        "interrupt_response": Bool(),
    }
)
_TURN_DETECTION = Nullable(Tagged("type", {"server_vad": _SERVER_VAD, "semantic_vad": _SEMANTIC_VAD}))
_TRANSCRIPTION = Nullable(
    Obj(
        {
            "model": Str(),
            "language": Str(),
            "languages": Arr(Str()),
            "prompt": Str(),
            "keywords": Arr(Str()),
            "delay": Str(choices=["minimal", "low", "medium", "high", "xhigh"]),
        }
    )
)
_NOISE = Nullable(
    Obj({"type": Str(choices=["near_field", "far_field"]), "strength": Num(0.0, None)})
)
_AUDIO_INPUT = Obj(
    {
        "format": _fmt(),
        "transcription": _TRANSCRIPTION,
        "noise_reduction": _NOISE,
        "turn_detection": _TURN_DETECTION,
    }
)
_VOICE = ByType(string=Str(choices=VOICES), obj=Obj({"id": Str()}, required=["id"]))
_AUDIO_OUTPUT = Obj({"format": _fmt(), "voice": _VOICE, "speed": Num(0.25, 1.5)})
_FUNCTION_TOOL = Obj(
    {"type": Str(), "name": Str(), "description": Str(), "parameters": AnyValue()},
    required=["name"],
)
_MCP_TOOL = Obj({"type": Str(), "server_label": Str()}, required=["server_label"], open_=True)
_TOOLS = Arr(Tagged("type", {"function": _FUNCTION_TOOL, "mcp": _MCP_TOOL}), max_items=128)
_TOOL_CHOICE = ByType(
    string=Str(choices=["none", "auto", "required"]),
    obj=Tagged(
        "type",
        {
            "function": Obj({"type": Str(), "name": Str()}, required=["name"]),
            "mcp": Obj(
                {"type": Str(), "server_label": Str(), "name": Nullable(Str())},
                required=["server_label"],
            ),
        },
    ),
)
_MAX_TOKENS = ByType(number=Num(1, 4096, integer=True), string=Str(choices=["inf"]))
_TRUNCATION = ByType(
    string=Str(choices=["auto", "disabled"]),
    obj=Obj(
        {
            "type": Str(choices=["retention_ratio"]),
            "retention_ratio": Num(0.0, 1.0),
            "token_limits": Obj({"post_instructions": Num(0, None, integer=True)}),
        },
        required=["type", "retention_ratio"],
    ),
)
_TRACING = Nullable(
    ByType(
        string=Str(choices=["auto"]),
        obj=Obj({"workflow_name": Str(), "group_id": Str(), "metadata": AnyValue()}),
    )
)
_PROMPT = Nullable(
    Obj({"id": Str(), "version": Nullable(Str()), "variables": AnyValue()}, required=["id"])
)
_REASONING = Obj({"effort": Str(choices=["minimal", "low", "medium", "high", "xhigh"])})
_MODALITIES = Arr(Str(choices=["text", "audio"]))

_SESSION_REALTIME = Obj(
    {
        "type": Str(),
        "model": Str(),
        "output_modalities": _MODALITIES,
        "instructions": Str(),
        "audio": Obj({"input": _AUDIO_INPUT, "output": _AUDIO_OUTPUT}),
        "tools": _TOOLS,
        "tool_choice": _TOOL_CHOICE,
        "max_output_tokens": _MAX_TOKENS,
        "truncation": _TRUNCATION,
        "tracing": _TRACING,
        "prompt": _PROMPT,
        "include": Nullable(Arr(Str(choices=["item.input_audio_transcription.logprobs"]))),
        "reasoning": _REASONING,
        "parallel_tool_calls": Bool(),
    }
)
_SESSION_TRANSCRIPTION = Obj(
    {
        "type": Str(),
        "audio": Obj({"input": _AUDIO_INPUT}),
        "include": Nullable(Arr(Str(choices=["item.input_audio_transcription.logprobs"]))),
    }
)
_SESSION = Tagged("type", {"realtime": _SESSION_REALTIME, "transcription": _SESSION_TRANSCRIPTION})

_ITEM_ID = Str(max_len=MAX_ITEM_ID)
_ITEM_COMMON: dict[str, Node] = {
    "type": Str(),
    "id": _ITEM_ID,
    "object": Str(choices=["realtime.item"]),
    "status": Str(choices=["completed", "incomplete", "in_progress"]),
}
_INPUT_TEXT = Obj({"type": Str(), "text": Str()}, required=["text"])
_USER_CONTENT = Tagged(
    "type",
    {
        "input_text": _INPUT_TEXT,
        "input_audio": Obj(
            {"type": Str(), "audio": Str(), "transcript": Nullable(Str())}, required=["audio"]
        ),
        "input_image": Obj(
            {"type": Str(), "image_url": Str(), "detail": Str(choices=["auto", "low", "high"])},
            required=["image_url"],
        ),
    },
)
# Assistant audio cannot be added by item.create: the service asks for `text`
# (`missing_required_parameter`, `item.content[0].text`; docs/protocol.md#replay-after-a-new-connection).
_ASSISTANT_CONTENT = Tagged(
    "type",
    {
        "output_text": Obj({"type": Str(), "text": Str()}, required=["text"]),
        "output_audio": Obj(
            {"type": Str(), "audio": Str(), "transcript": Nullable(Str()), "text": Str()},
            required=["text"],
        ),
    },
)


def _message(content: Node) -> Obj:
    return Obj(
        {**_ITEM_COMMON, "role": Str(), "content": Arr(content)}, required=["role", "content"]
    )


_MESSAGE = Tagged(
    "role",
    {
        "system": _message(Tagged("type", {"input_text": _INPUT_TEXT})),
        "user": _message(_USER_CONTENT),
        "assistant": _message(_ASSISTANT_CONTENT),
    },
)
_ITEM_VARIANTS: dict[str, Node] = {
    "message": _MESSAGE,
    "function_call": Obj(
        {**_ITEM_COMMON, "call_id": Str(), "name": Str(), "arguments": Str()},
        required=["name", "arguments"],
    ),
    "function_call_output": Obj(
        {**_ITEM_COMMON, "call_id": Str(), "output": Str()}, required=["call_id", "output"]
    ),
    "mcp_call": Obj(_ITEM_COMMON, open_=True),
    "mcp_list_tools": Obj(_ITEM_COMMON, open_=True),
    "mcp_approval_request": Obj(_ITEM_COMMON, open_=True),
    "mcp_approval_response": Obj(_ITEM_COMMON, open_=True),
}
_ITEM = Tagged("type", _ITEM_VARIANTS)
_ITEM_OR_REFERENCE = Tagged(
    "type",
    {**_ITEM_VARIANTS, "item_reference": Obj({"type": Str(), "id": Str()}, required=["id"])},
)

_RESPONSE = Obj(
    {
        "output_modalities": _MODALITIES,
        "instructions": Str(),
        "audio": Obj({"output": Obj({"format": _fmt(), "voice": _VOICE})}),
        "tools": _TOOLS,
        "tool_choice": _TOOL_CHOICE,
        "max_output_tokens": _MAX_TOKENS,
        "metadata": Nullable(Obj({}, open_=True)),
        "prompt": _PROMPT,
        "reasoning": _REASONING,
        "parallel_tool_calls": Bool(),
        "conversation": Str(),
        "input": Arr(_ITEM_OR_REFERENCE),
    }
)


def _event(fields: dict[str, Node], required: tuple[str, ...] = ()) -> Obj:
    return Obj({"type": Str(), "event_id": _EVENT_ID, **fields}, required=required)


_EVENTS: dict[str, Obj] = {
    "session.update": _event({"session": _SESSION}, ("session",)),
    "input_audio_buffer.append": _event({"audio": Str()}, ("audio",)),
    "input_audio_buffer.commit": _event({}),
    "input_audio_buffer.clear": _event({}),
    "conversation.item.create": _event(
        {"previous_item_id": Nullable(Str()), "item": _ITEM}, ("item",)
    ),
    "conversation.item.retrieve": _event({"item_id": Str()}, ("item_id",)),
    "conversation.item.truncate": _event(
        {
            "item_id": Str(),
            "content_index": Num(0, None, integer=True),
            "audio_end_ms": Num(0, None, integer=True),
        },
        ("item_id", "content_index", "audio_end_ms"),
    ),
    "conversation.item.delete": _event({"item_id": Str()}, ("item_id",)),
    "response.create": _event({"response": _RESPONSE}),
    "response.cancel": _event({"response_id": Str()}),
    "output_audio_buffer.clear": _event({}),
}
assert tuple(_EVENTS) == CLIENT_EVENT_TYPES


def decode_frame(text: str) -> JsonDict:
    """Parse one text frame as a JSON object (not yet validated)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientError(
            "invalid_json",
            f"The event could not be parsed as JSON: {exc.msg} (char {exc.pos}).",
            None,
            echo_event_id=False,
        ) from None
    if not isinstance(value, dict):
        raise ClientError(
            "invalid_type",
            "Invalid event: expected a JSON object, but got "
            f"{'an array' if isinstance(value, list) else 'a ' + type(value).__name__} instead.",
            None,
            echo_event_id=False,
        )
    return value


def validate_event(event: JsonDict) -> None:
    """Check one decoded client event against the GA schema; raise `ClientError` if refused."""
    kind = event.get("type")
    if "type" not in event:
        raise ClientError(
            "missing_required_parameter", "Missing required parameter: 'type'.", "type"
        )
    if not isinstance(kind, str) or kind not in _EVENTS:
        raise ClientError(
            "invalid_value",
            f"Invalid value: '{kind}'. Supported values are: {quote_list(CLIENT_EVENT_TYPES)}.",
            "type",
        )
    _EVENTS[kind].check(event, "")
    _check_semantics(kind, event)


def _check_semantics(kind: str, event: JsonDict) -> None:
    if kind == "session.update":
        session = event["session"]
        if session["type"] != "realtime":
            raise ClientError(
                "invalid_value",
                "rt serve only offers realtime sessions; 'transcription' sessions are not "
                "supported.",
                "session.type",
            )
        _check_modalities(session.get("output_modalities"), "session.output_modalities")
        _check_formats(session.get("audio", {}), "session.audio")
    elif kind == "response.create":
        response = event.get("response", {})
        _check_modalities(response.get("output_modalities"), "response.output_modalities")
        _check_formats(response.get("audio", {}), "response.audio")
        conversation = response.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise ClientError(
                "invalid_value",
                f"Invalid value: '{conversation}'. Supported values are: 'auto' and 'none'.",
                "response.conversation",
            )
    elif kind == "input_audio_buffer.append" and len(event["audio"]) > MAX_APPEND_BASE64:
        raise ClientError(
            "string_above_max_length",
            "Invalid 'audio': string too long. Expected a string with maximum length "
            f"{MAX_APPEND_BASE64}, but got a string with length {len(event['audio'])} instead.",
            "audio",
        )


def _check_modalities(value: Any, param: str) -> None:
    if value is None:
        return
    if sorted(set(value)) not in (["audio"], ["text"]):
        raise ClientError(
            "invalid_value",
            f"Invalid modalities: {value!r}. Supported combinations are: ['text'] and ['audio'].",
            param,
        )


def _check_formats(audio: JsonDict, param: str) -> None:
    for side in ("input", "output"):
        fmt = audio.get(side, {}).get("format")
        if fmt is not None and fmt["type"] != "audio/pcm":
            raise ClientError(
                "invalid_value",
                f"Invalid value: '{fmt['type']}'. rt serve supports only 'audio/pcm' at 24000 Hz.",
                f"{param}.{side}.format.type",
            )


def parse_client_event(text: str) -> JsonDict:
    event = decode_frame(text)
    validate_event(event)
    return event
