"""A tiny declarative JSON checker that fails the way the real API fails.

Each node checks one value at a dotted `param` path (`session.audio.output.speed`,
`item.content[0].text`) and raises `ClientError` with the API's codes and message styles:
`unknown_parameter`, `missing_required_parameter`, `invalid_type`, `invalid_value`,
`decimal_above_max_value`, `string_above_max_length`, ... Objects report unknown keys first,
then missing ones, then check each field in order, so the first problem wins, as on the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from realtime_cli.server.wire import ClientError, quote_list


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """How the API names a JSON value's type in `invalid_type` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _type_error(path: str, expected: str, value: Any) -> ClientError:
    return ClientError(
        "invalid_type",
        f"Invalid type for '{path}': expected {expected}, but got {describe(value)} instead.",
        path,
    )


def _value_error(path: str, value: Any, choices: Sequence[Any]) -> ClientError:
    shown = value if isinstance(value, str) else repr(value)
    return ClientError(
        "invalid_value",
        f"Invalid value: '{shown}'. Supported values are: {quote_list([str(c) for c in choices])}.",
        path,
    )


class Node:
    """One schema node; `check` raises `ClientError` on the first problem found."""

    expected = "a value"

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError


class AnyValue(Node):
    def check(self, value: Any, path: str) -> None:
        return None


class Str(Node):
    expected = "a string"

    def __init__(
        self, *, choices: Sequence[str] | None = None, max_len: int | None = None
    ) -> None:
        self.choices = tuple(choices) if choices else None
        self.max_len = max_len

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _type_error(path, self.expected, value)
        if self.choices is not None and value not in self.choices:
            raise _value_error(path, value, self.choices)
        if self.max_len is not None and len(value) > self.max_len:
            raise ClientError(
                "string_above_max_length",
                f"Invalid '{path}': string too long. Expected a string with maximum length "
                f"{self.max_len}, but got a string with length {len(value)} instead.",
                path,
            )


class Num(Node):
    """A number in [lo, hi]; `integer=True` refuses decimals; `choices` fixes the values."""

    def __init__(
        self,
        lo: float | None = None,
        hi: float | None = None,
        *,
        integer: bool = False,
        choices: Sequence[int] | None = None,
    ) -> None:
        self.lo, self.hi, self.integer = lo, hi, integer
        self.choices = tuple(choices) if choices else None
        self.expected = "an integer" if integer else "a decimal"

    def check(self, value: Any, path: str) -> None:
        ok = isinstance(value, int) if self.integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise _type_error(path, self.expected, value)
        if self.choices is not None and value not in self.choices:
            raise _value_error(path, value, self.choices)
        kind = "integer" if self.integer else "decimal"
        if self.hi is not None and value > self.hi:
            raise ClientError(
                f"{kind}_above_max_value",
                f"Invalid '{path}': {kind} above maximum value. Expected a value <= {self.hi:g}, "
                f"but got {value:g} instead.",
                path,
            )
        if self.lo is not None and value < self.lo:
            raise ClientError(
                f"{kind}_below_min_value",
                f"Invalid '{path}': {kind} below minimum value. Expected a value >= {self.lo:g}, "
                f"but got {value:g} instead.",
                path,
            )


class Bool(Node):
    expected = "a boolean"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise _type_error(path, self.expected, value)


class Nullable(Node):
    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.expected = inner.expected

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)


class Arr(Node):
    expected = "an array"

    def __init__(self, item: Node, *, max_items: int | None = None) -> None:
        self.item = item
        self.max_items = max_items

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _type_error(path, self.expected, value)
        if self.max_items is not None and len(value) > self.max_items:
            raise ClientError(
                "array_above_max_length",
                f"Invalid '{path}': array too long. Expected an array with maximum length "
                f"{self.max_items}, but got an array with length {len(value)} instead.",
                path,
            )
        for index, element in enumerate(value):
            self.item.check(element, f"{path}[{index}]")


class Obj(Node):
    """A JSON object with known `fields`; `open_=True` accepts any extra keys (JSON Schema)."""

    expected = "an object"

    def __init__(
        self,
        fields: Mapping[str, Node],
        *,
        required: Sequence[str] = (),
        open_: bool = False,
    ) -> None:
        self.fields = dict(fields)
        self.required = tuple(required)
        self.open_ = open_

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path, self.expected, value)
        if not self.open_:
            for key in value:
                if key not in self.fields:
                    where = _join(path, key)
                    raise ClientError("unknown_parameter", f"Unknown parameter: '{where}'.", where)
        for key in self.required:
            if key not in value:
                where = _join(path, key)
                raise ClientError(
                    "missing_required_parameter",
                    f"Missing required parameter: '{where}'.",
                    where,
                )
        for key, node in self.fields.items():
            if key in value:
                node.check(value[key], _join(path, key))


class Tagged(Node):
    """An object whose `key` (usually `type`) picks the variant schema."""

    expected = "an object"

    def __init__(self, key: str, variants: Mapping[str, Node]) -> None:
        self.key = key
        self.variants = dict(variants)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _type_error(path, self.expected, value)
        where = _join(path, self.key)
        if self.key not in value:
            raise ClientError(
                "missing_required_parameter", f"Missing required parameter: '{where}'.", where
            )
        tag = value[self.key]
        if not isinstance(tag, str):
            raise _type_error(where, "a string", tag)
        if tag not in self.variants:
            raise _value_error(where, tag, list(self.variants))
        self.variants[tag].check(value, path)


class ByType(Node):
    """One of several shapes chosen by the JSON type (e.g. a voice name or `{id}`)."""

    def __init__(self, *, string: Node | None = None, obj: Node | None = None,
                 number: Node | None = None) -> None:
        self.string, self.obj, self.number = string, obj, number
        names = [
            name
            for name, node in (("a string", string), ("an object", obj), ("a number", number))
            if node is not None
        ]
        self.expected = "one of " + " or ".join(names) if len(names) > 1 else names[0]

    def check(self, value: Any, path: str) -> None:
        node: Node | None = None
        if isinstance(value, str):
            node = self.string
        elif isinstance(value, dict):
            node = self.obj
        elif isinstance(value, int | float) and not isinstance(value, bool):
            node = self.number
        if node is None:
            raise _type_error(path, self.expected, value)
        node.check(value, path)
