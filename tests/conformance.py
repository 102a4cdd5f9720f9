"""Conformance of wire JSON with the official `openai` package's GA realtime models.

The SDK unions use an `openai` `PropertyInfo` discriminator that pydantic
does not understand, and every SDK model has `extra="allow"`, so unknown (e.g. beta-named) keys
validate silently although the real server rejects the whole event. Hence two checks:

1. the model is looked up by `type` in a `{type: model}` map built from the SDK's
   `RealtimeClientEvent` / `RealtimeServerEvent` unions, and `Model.model_validate(event)` runs;
2. our own recursive unknown-key check walks `model_fields` (by alias) through nested models,
   lists, dicts of models and unions, and fails on any key the model does not declare.

Public API (import it from end-to-end tests as `from conformance import ...`):

    validate_client_event(event: dict) -> BaseModel
        Both checks, strict: any unknown key anywhere fails.
    validate_server_event(event: dict, *, allow=SERVER_EXTRAS) -> BaseModel
        Both checks; `allow` holds fnmatch patterns of dotted paths (see `unknown_keys`) that a
        real GA server sends although the SDK does not model them
        (docs/protocol.md#responses-and-output-audio).
    validate_client_json(text: str) / validate_server_json(text: str, ...)
        The same for one JSON frame.
    unknown_keys(annotation, value) -> list[str]
        The unknown-key check alone: dotted paths such as "session.modalities" or
        "item.content[0].foo"; empty when every key is declared.
    CLIENT_EVENT_MODELS, SERVER_EVENT_MODELS: dict[str, type[BaseModel]]
        The `{type: model}` maps (11 client events, 46 server events in openai 3.5x).
    ConformanceError
        An AssertionError subclass raised by the validators, with a readable message.

Server event types the SDK does not model fail with ConformanceError ("no SDK model").
"""

from __future__ import annotations

import json
import types
import typing
from fnmatch import fnmatchcase
from typing import Any

import pydantic
from openai import BaseModel
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent

__all__ = [
    "CLIENT_EVENT_MODELS",
    "SERVER_EVENT_MODELS",
    "SERVER_EXTRAS",
    "ConformanceError",
    "unknown_keys",
    "validate_client_event",
    "validate_client_json",
    "validate_server_event",
    "validate_server_json",
]

SERVER_EXTRAS: frozenset[str] = frozenset({
    # Real GA transcript (and other) deltas carry an `obfuscation` string
    # (docs/protocol.md#responses-and-output-audio).
    "obfuscation",
    # The session object of session.created/updated also has `object`, `id` and `expires_at`,
    # which are not in the SDK's request model (docs/protocol.md#session-configuration).
    "session.object",
    "session.id",
    "session.expires_at",
    # Messages of the reasoning realtime models carry `phase` ("commentary" for a preamble,
    # "final_answer"), which openai 3.5x does not model (docs/protocol.md#responses-and-output-audio).
    "item.phase",
    "response.output[[]*[]].phase",
})


class ConformanceError(AssertionError):
    """A wire event that the SDK models reject, or that carries keys they do not declare."""


# --------------------------------------------------------------------------- {type: model}


def _members(union_alias: Any) -> tuple[Any, ...]:
    """The models of an `Annotated[Union[...], PropertyInfo(discriminator="type")]` alias."""
    inner = typing.get_args(union_alias)[0] if typing.get_origin(union_alias) is typing.Annotated \
        else union_alias
    return typing.get_args(inner)


def _type_map(union_alias: Any) -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for model in _members(union_alias):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            out[literal] = model
    return out


CLIENT_EVENT_MODELS: dict[str, type[BaseModel]] = _type_map(RealtimeClientEvent)
SERVER_EVENT_MODELS: dict[str, type[BaseModel]] = _type_map(RealtimeServerEvent)


# --------------------------------------------------------------------------- unknown keys

_NONE = type(None)
_UNION_ORIGINS = (typing.Union, types.UnionType)
_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _strip(annotation: Any) -> Any:
    """Drop `Annotated[...]` wrappers (the SDK's PropertyInfo lives there)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _fits(annotation: Any, value: Any) -> bool:
    """Whether pydantic accepts `value` for `annotation` (used to pick a union member)."""
    if _is_model(annotation):
        try:
            annotation.model_validate(value)
        except pydantic.ValidationError:
            return False
        return True
    try:
        adapter = _ADAPTERS.get(annotation)
        if adapter is None:
            adapter = _ADAPTERS[annotation] = pydantic.TypeAdapter(annotation)
    except TypeError:  # unhashable annotation: build it each time
        adapter = pydantic.TypeAdapter(annotation)
    try:
        adapter.validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


def _field_keys(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """Wire key -> annotation for every declared field (aliases honoured)."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def unknown_keys(annotation: Any, value: Any, path: str = "") -> list[str]:
    """Dotted paths of keys in `value` that `annotation` does not declare, recursively.

    Walks models (`model_fields`), `list`/`tuple` items (`path[i]`), `dict` values
    (`path[key]`) and unions. For a union the member that pydantic accepts with the fewest
    unknown keys is taken, so a user message is checked as a user message and not as a system
    one. Free-form values (`object`, `Any`, `Dict[str, object]`) are not entered: JSON Schemas
    and metadata may hold any key. Type mismatches are not reported here: that is
    `model_validate`'s job.
    """
    annotation = _strip(annotation)
    if value is None:
        return []
    if _is_model(annotation):
        if not isinstance(value, dict):
            return []
        declared = _field_keys(annotation)
        found: list[str] = []
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in declared:
                found.append(where)
            else:
                found.extend(unknown_keys(declared[key], sub, where))
        return found
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _UNION_ORIGINS:
        candidates = [a for a in args if a is not _NONE]
        best: list[str] | None = None
        for candidate in candidates:
            if not _fits(candidate, value):
                continue
            found = unknown_keys(candidate, value, path)
            if best is None or len(found) < len(best):
                best = found
            if not best:
                break
        return best or []
    if origin in (list, tuple, typing.Sequence) and isinstance(value, list | tuple) and args:
        item_type = args[0]
        return [k for i, v in enumerate(value) for k in unknown_keys(item_type, v, f"{path}[{i}]")]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return [k for key, v in value.items() for k in unknown_keys(args[1], v, f"{path}[{key}]")]
    return []


# --------------------------------------------------------------------------- validators


def _validate(event: Any, models: dict[str, type[BaseModel]], side: str,
              allow: frozenset[str] | set[str] | tuple[str, ...]) -> BaseModel:
    if not isinstance(event, dict):
        raise ConformanceError(f"{side} event must be a JSON object, got {type(event).__name__}")
    kind = event.get("type")
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ConformanceError(f"no SDK model for {side} event type {kind!r}")
    try:
        parsed = model.model_validate(event)
    except pydantic.ValidationError as exc:
        raise ConformanceError(f"{kind}: rejected by openai {model.__name__}:\n{exc}") from None
    extra = [p for p in unknown_keys(model, event)
             if not any(fnmatchcase(p, pattern) for pattern in allow)]
    if extra:
        raise ConformanceError(
            f"{kind}: keys not in openai {model.__name__}: {', '.join(extra)}"
        )
    return parsed


def validate_client_event(event: dict[str, Any]) -> BaseModel:
    """Validate one client event dict (as `codec.to_dict` gives it) against the SDK; strict."""
    return _validate(event, CLIENT_EVENT_MODELS, "client", ())


def validate_server_event(
    event: dict[str, Any], *, allow: frozenset[str] | set[str] | tuple[str, ...] = SERVER_EXTRAS
) -> BaseModel:
    """Validate one server event dict; keys matching `allow` patterns are tolerated."""
    return _validate(event, SERVER_EVENT_MODELS, "server", allow)


def validate_client_json(text: str) -> BaseModel:
    """`validate_client_event` for one encoded frame (`codec.encode` output)."""
    return validate_client_event(json.loads(text))


def validate_server_json(
    text: str, *, allow: frozenset[str] | set[str] | tuple[str, ...] = SERVER_EXTRAS
) -> BaseModel:
    return validate_server_event(json.loads(text), allow=allow)
