"""The OpenAI Realtime GA wire format: JSON text <-> rt's typed events. Pure; `decode` never
raises on server input.

A misbehaving peer becomes data (websockets' `parse()` idea): every reading error is caught in
one place and returned as `MalformedServerEvent`, so the core can record it and carry on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from typing import Any

from realtime_cli.protocol import events as ev
from realtime_cli.protocol.audio_format import b64decode_pcm, b64encode_pcm
from realtime_cli.text import without_lone_surrogates
from realtime_cli.usage import WIRE_PATHS, TokenUsage, TranscriptionUsage

_EXCERPT = 160


class _Bad(Exception):
    """A field is missing or has the wrong type; turned into MalformedServerEvent."""


# --------------------------------------------------------------------------- encode


def to_dict(event: ev.ClientEvent) -> dict[str, Any]:
    """The wire shape of a client event: `type` first, optional fields left out when None."""
    out: dict[str, Any] = {"type": event.type}
    for f in dataclasses.fields(event):
        if f.name == "type" or f.metadata.get("local"):
            continue
        value = getattr(event, f.name)
        if value is None:
            continue
        out[f.name] = b64encode_pcm(value) if isinstance(value, bytes) else value
    return out


_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'


def encode(event: ev.ClientEvent) -> str:
    if type(event) is ev.InputAudioBufferAppend and event.event_id is None:
        # 10-25 a second while talking: base64 needs no JSON escaping, so the text is written
        # as `json.dumps` would write it, without walking the event's fields and the string
        return _APPEND_HEAD + b64encode_pcm(event.audio) + '"}'
    return json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- field readers


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string")
    return value


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string or null")
    return value


MAX_INT = 2**53  # integers a JSON peer can send exactly; beyond that a position is garbage


def _int(obj: dict[str, Any], key: str, default: int | None = None) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key!r} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Bad(f"{key!r} must be a finite number")
    if abs(value) > MAX_INT:
        raise _Bad(f"{key!r} is out of range")
    return int(value)


# JSON may escape lone UTF-16 surrogates ("\\ud800"); Python then holds strings that no encoder
# accepts, and the first print or database write of one would fail. The search is cheap and
# almost never matches (audio deltas are base64), so only such frames pay for the rewrite.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _without_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def _finite(value: Any) -> bool:
    """A JSON number usable as a float: not a bool, NaN, infinite, or an int too large."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _obj(obj: dict[str, Any], key: str, *, optional: bool = False) -> dict[str, Any]:
    value = obj.get(key)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{key!r} must be an object")
    return value


def _opt_int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _item(raw: Any) -> ev.Item:
    if not isinstance(raw, dict):
        raise _Bad("'item' must be an object")
    parts: list[ev.ContentPart] = []
    content = raw.get("content") or []
    if not isinstance(content, list):
        raise _Bad("'item.content' must be a list")
    for part in content:
        if not isinstance(part, dict):
            raise _Bad("content parts must be objects")
        parts.append(
            ev.ContentPart(
                type=_opt_str(part, "type") or "",
                text=_opt_str(part, "text"),
                transcript=_opt_str(part, "transcript"),
            )
        )
    return ev.Item(
        id=_str(raw, "id"),
        type=_opt_str(raw, "type") or "message",
        role=_opt_str(raw, "role"),
        status=_opt_str(raw, "status"),
        content=tuple(parts),
        call_id=_opt_str(raw, "call_id"),
        name=_opt_str(raw, "name"),
        arguments=_opt_str(raw, "arguments"),
        output=_opt_str(raw, "output"),
    )


def _sub(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _usage(raw: Any) -> TokenUsage | None:
    if not isinstance(raw, dict):
        return None
    counts: dict[str, int] = {}
    for name, path in WIRE_PATHS.items():
        where: dict[str, Any] = raw
        for key in path[:-1]:
            where = _sub(where, key)
        counts[name] = _opt_int(where, path[-1])
    return TokenUsage(**counts)


def _transcription_usage(raw: Any) -> TranscriptionUsage | None:
    """The SDK's two `Usage` variants: `tokens` (counts where `response.done` has them) or
    `duration` (seconds of audio); anything else is no usage, never a malformed event."""
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "tokens":
        tokens = _usage(raw)
        return TranscriptionUsage(tokens=tokens) if tokens is not None else None
    seconds: Any = raw.get("seconds")
    if raw.get("type") != "duration" or not _finite(seconds) or seconds < 0:
        return None
    return TranscriptionUsage(seconds=float(seconds))


# --------------------------------------------------------------------------- per-type decoders


def _session_created(o: dict[str, Any]) -> ev.ServerEvent:
    session = _obj(o, "session")
    expires = session.get("expires_at")
    return ev.SessionCreated(
        session_id=_opt_str(session, "id"),
        expires_at=float(expires) if expires is not None and _finite(expires) else None,
        session=session,
    )


def _response_done(o: dict[str, Any]) -> ev.ServerEvent:
    resp = _obj(o, "response")
    details = resp.get("status_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    error = details.get("error") if isinstance(details, dict) else None
    output = resp.get("output") or []
    items = tuple(_item(i) for i in output if isinstance(i, dict) and "id" in i)
    return ev.ResponseDone(
        response_id=_str(resp, "id"),
        status=_opt_str(resp, "status") or "completed",
        reason=reason if isinstance(reason, str) else None,
        usage=_usage(resp.get("usage")),
        output=items,
        error=ev.ResponseError(type=_opt_str(error, "type"), code=_opt_str(error, "code"),
                               message=_opt_str(error, "message"))
        if isinstance(error, dict) else None,
    )


def _audio_delta(o: dict[str, Any]) -> ev.ServerEvent:
    pcm = b64decode_pcm(_str(o, "delta"))
    if pcm is None:
        raise _Bad("'delta' is not base64 PCM16")
    return ev.OutputAudioDelta(
        response_id=_str(o, "response_id"),
        item_id=_str(o, "item_id"),
        content_index=_int(o, "content_index", 0),
        pcm=pcm,
    )


def _error(o: dict[str, Any]) -> ev.ServerEvent:
    err = _obj(o, "error")
    return ev.ServerError(
        type=_opt_str(err, "type") or "error",
        code=_opt_str(err, "code"),
        message=_opt_str(err, "message") or "",
        param=_opt_str(err, "param"),
        client_event_id=_opt_str(err, "event_id"),
    )


def _transcript_delta(o: dict[str, Any]) -> ev.ServerEvent:
    return ev.OutputTranscriptDelta(
        response_id=_str(o, "response_id"), item_id=_str(o, "item_id"), delta=_str(o, "delta")
    )


def _transcript_done(key: str) -> Callable[[dict[str, Any]], ev.ServerEvent]:
    def decode(o: dict[str, Any]) -> ev.ServerEvent:
        return ev.OutputTranscriptDone(
            response_id=_str(o, "response_id"), item_id=_str(o, "item_id"), transcript=_str(o, key)
        )

    return decode


def _content_part(done: bool) -> Callable[[dict[str, Any]], ev.ServerEvent]:
    cls = ev.ContentPartDone if done else ev.ContentPartAdded

    def decode(o: dict[str, Any]) -> ev.ServerEvent:
        part = _obj(o, "part", optional=True)
        return cls(
            response_id=_str(o, "response_id"),
            item_id=_str(o, "item_id"),
            part_type=_opt_str(part, "type") or "",
        )

    return decode


def _input_failed(o: dict[str, Any]) -> ev.ServerEvent:
    err = o.get("error")
    message = err.get("message") if isinstance(err, dict) else None
    return ev.InputTranscriptionFailed(
        item_id=_str(o, "item_id"), message=message if isinstance(message, str) else "failed"
    )


_DECODERS: dict[str, Callable[[dict[str, Any]], ev.ServerEvent]] = {
    "session.created": _session_created,
    "session.updated": lambda o: ev.SessionUpdated(session=_obj(o, "session")),
    "conversation.item.added": lambda o: ev.ConversationItemAdded(
        item=_item(o.get("item")), previous_item_id=_opt_str(o, "previous_item_id")
    ),
    "conversation.item.created": lambda o: ev.ConversationItemAdded(
        item=_item(o.get("item")), previous_item_id=_opt_str(o, "previous_item_id")
    ),
    "conversation.item.done": lambda o: ev.ConversationItemDone(item=_item(o.get("item"))),
    "conversation.item.truncated": lambda o: ev.ConversationItemTruncated(
        item_id=_str(o, "item_id"),
        content_index=_int(o, "content_index", 0),
        audio_end_ms=_int(o, "audio_end_ms"),
    ),
    "conversation.item.deleted": lambda o: ev.ConversationItemDeleted(item_id=_str(o, "item_id")),
    "input_audio_buffer.committed": lambda o: ev.InputAudioBufferCommitted(
        item_id=_str(o, "item_id"), previous_item_id=_opt_str(o, "previous_item_id")
    ),
    "input_audio_buffer.cleared": lambda o: ev.InputAudioBufferCleared(),
    "input_audio_buffer.speech_started": lambda o: ev.SpeechStarted(
        audio_start_ms=_int(o, "audio_start_ms"), item_id=_str(o, "item_id")
    ),
    "input_audio_buffer.speech_stopped": lambda o: ev.SpeechStopped(
        audio_end_ms=_int(o, "audio_end_ms"), item_id=_str(o, "item_id")
    ),
    "input_audio_buffer.timeout_triggered": lambda o: ev.InputAudioTimeoutTriggered(
        audio_start_ms=_int(o, "audio_start_ms"),
        audio_end_ms=_int(o, "audio_end_ms"),
        item_id=_str(o, "item_id"),
    ),
    "conversation.item.input_audio_transcription.delta": lambda o: ev.InputTranscriptionDelta(
        item_id=_str(o, "item_id"), delta=_opt_str(o, "delta") or ""
    ),
    "conversation.item.input_audio_transcription.completed": lambda o: (
        ev.InputTranscriptionCompleted(item_id=_str(o, "item_id"), transcript=_str(o, "transcript"),
                                       usage=_transcription_usage(o.get("usage")))
    ),
    "conversation.item.input_audio_transcription.failed": _input_failed,
    "response.created": lambda o: ev.ResponseCreated(response_id=_str(_obj(o, "response"), "id")),
    "response.done": _response_done,
    "response.output_item.added": lambda o: ev.OutputItemAdded(
        response_id=_str(o, "response_id"), item=_item(o.get("item"))
    ),
    "response.output_item.done": lambda o: ev.OutputItemDone(
        response_id=_str(o, "response_id"), item=_item(o.get("item"))
    ),
    "response.content_part.added": _content_part(done=False),
    "response.content_part.done": _content_part(done=True),
    "response.output_audio.delta": _audio_delta,
    "response.output_audio.done": lambda o: ev.OutputAudioDone(
        response_id=_str(o, "response_id"), item_id=_str(o, "item_id")
    ),
    "response.output_audio_transcript.delta": _transcript_delta,
    "response.output_text.delta": _transcript_delta,
    "response.output_audio_transcript.done": _transcript_done("transcript"),
    "response.output_text.done": _transcript_done("text"),
    "response.function_call_arguments.delta": lambda o: ev.FunctionCallArgumentsDelta(
        call_id=_str(o, "call_id"), item_id=_str(o, "item_id"), delta=_str(o, "delta")
    ),
    "response.function_call_arguments.done": lambda o: ev.FunctionCallArgumentsDone(
        call_id=_str(o, "call_id"),
        item_id=_str(o, "item_id"),
        name=_opt_str(o, "name") or "",
        arguments=_str(o, "arguments"),
    ),
    "rate_limits.updated": lambda o: ev.RateLimitsUpdated(
        rate_limits=tuple(r for r in (o.get("rate_limits") or []) if isinstance(r, dict))
    ),
    "error": _error,
}

HANDLED_TYPES = frozenset(_DECODERS)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def decode(frame: str | bytes) -> ev.ServerEvent:
    """Turn one WebSocket frame into a server event. Never raises."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return ev.MalformedServerEvent(reason="binary frame", excerpt=f"<{len(frame)} bytes>")
    try:
        obj = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        return ev.MalformedServerEvent(reason=f"invalid JSON: {exc}", excerpt=_excerpt(frame))
    if _SURROGATE_ESCAPE.search(frame) is not None:
        obj = _without_surrogates(obj)
    if not isinstance(obj, dict):
        return ev.MalformedServerEvent(reason="event is not an object", excerpt=_excerpt(frame))
    kind = obj.get("type")
    if not isinstance(kind, str):
        return ev.MalformedServerEvent(reason="event has no string 'type'", excerpt=_excerpt(frame))
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return ev.UnknownServerEvent(type=kind)
    try:
        return decoder(obj)
    except (_Bad, TypeError, ValueError, AttributeError, KeyError) as exc:
        return ev.MalformedServerEvent(reason=f"{kind}: {exc}", excerpt=_excerpt(frame))


class OpenAIGACodec:
    """`WireCodec` for the OpenAI Realtime GA protocol (also Azure OpenAI and `rt serve`):
    one event per frame each way, no state, the server speaks first (`session.created`)."""

    name = "openai"

    def opened(self) -> list[ev.ServerEvent]:
        return []

    def encode(self, event: ev.ClientEvent) -> list[str]:
        return [encode(event)]

    def decode(self, frame: str | bytes) -> list[ev.ServerEvent]:
        return [decode(frame)]


OPENAI_GA = OpenAIGACodec()
