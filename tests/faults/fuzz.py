"""Seeded junk for a WebSocket client of the Realtime API: `FuzzFrames(seed, templates)`
yields server frames that are real events mutated (wrong types, missing fields, 1 MB strings,
lone surrogates, ids of unknown items, invalid base64 audio) or not events at all (binary,
non-JSON, arrays, numbers, empty text, deeply nested objects). The same seed and templates give
the same frames."""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Iterator
from typing import Any

HUGE = 1_000_000  # characters: a 1 MB string
MAX_HUGE = 25  # at most this many huge frames per run (keeps the run short)
NEST = 100_000  # nesting depth: past any recursion limit

# Error codes a server may send mid-session that are not the end of it: the fuzz does not forge
# the ones whose meaning is "stop" (bad key, no quota, session expired), which rt rightly obeys.
ERROR_CODES = ("invalid_value", "unknown_parameter", "server_error", "rate_limit_exceeded",
               "conversation_already_has_active_response", "response_cancel_not_active",
               "item_not_found", "", None, 42, ["x"], {"code": "nested"})

EXTRA_TEMPLATES: list[dict[str, Any]] = [
    {"type": "error", "event_id": "event_x", "error": {
        "type": "invalid_request_error", "code": "invalid_value", "message": "bad", "param": None,
        "event_id": None}},
    {"type": "response.function_call_arguments.delta", "response_id": "resp_x",
     "item_id": "item_x", "output_index": 0, "call_id": "call_x", "delta": "{\"a\":"},
    {"type": "response.function_call_arguments.done", "response_id": "resp_x",
     "item_id": "item_x", "output_index": 0, "call_id": "call_x", "name": "get_weather",
     "arguments": "{\"a\": 1}"},
    {"type": "response.output_text.delta", "response_id": "resp_x", "item_id": "item_x",
     "output_index": 0, "content_index": 0, "delta": "hello"},
    {"type": "response.output_text.done", "response_id": "resp_x", "item_id": "item_x",
     "output_index": 0, "content_index": 0, "text": "hello"},
    {"type": "conversation.item.truncated", "item_id": "item_x", "content_index": 0,
     "audio_end_ms": 1500},
    {"type": "conversation.item.deleted", "item_id": "item_x"},
    {"type": "conversation.item.input_audio_transcription.delta", "item_id": "item_x",
     "content_index": 0, "delta": "hel"},
    {"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_x",
     "content_index": 0, "error": {"type": "x", "code": "x", "message": "no"}},
    {"type": "input_audio_buffer.cleared"},
    {"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": 0, "audio_end_ms": 10,
     "item_id": "item_x"},
    {"type": "output_audio_buffer.started", "response_id": "resp_x"},
    {"type": "conversation.created", "conversation": {"id": "conv_x"}},
    {"type": "mcp_list_tools.in_progress", "item_id": "item_x"},
]


class FuzzFrames:
    def __init__(self, seed: int, templates: list[dict[str, Any]], *,
                 lone_surrogates: bool = True) -> None:
        self.rng = random.Random(seed)
        self.odd_chars = ["\x00", "\u202e", "\U0001f600", "\ufeff", "\r\n\x1b[2J"]
        if lone_surrogates:  # JSON "\ud800": valid JSON, a str that no codec encodes
            self.odd_chars += ["\ud800", "\udfff x"]
        # Not every real event is fair game: a verbatim `error` carrying a fatal code would end
        # the session by design, so errors come from EXTRA_TEMPLATES with ERROR_CODES only.
        self.templates = [t for t in templates if t.get("type") != "error"] + EXTRA_TEMPLATES
        self.huge_left = MAX_HUGE
        self.kinds: dict[str, int] = {}

    def frames(self, count: int) -> Iterator[str | bytes]:
        for _ in range(count):
            kind, frame = self.one()
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            yield frame

    def one(self) -> tuple[str, str | bytes]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.04:
            return "binary", rng.randbytes(rng.choice((0, 1, 7, 300, 70_000)))
        if roll < 0.08:
            return "not json", rng.choice(("", " ", "{", "}", "nul", "{\"type\": ",
                                           '{"type": "response.output_audio.delta", "delta": "AA',
                                           "\x00\x01", "undefined", "{'type': 'x'}",
                                           rng.randbytes(40).decode("latin-1")))
        if roll < 0.12:
            return "not an object", json.dumps(rng.choice(
                ([], [1, 2], [{"type": "error"}], 0, -1, 1e308, 3.5, "text", None, True,
                 "response.done")))
        if roll < 0.135:
            depth = rng.choice((1_000, NEST))
            return "deep nesting", self._nested(depth)
        event = copy.deepcopy(rng.choice(self.templates))
        if roll < 0.25:
            return "valid event replayed", self._dumps(event)
        mutation = rng.choice((self._wrong_type, self._missing_field, self._huge_string,
                               self._unknown_ids, self._bad_audio, self._unknown_type,
                               self._empty_payload, self._surrogates, self._error_codes))
        return mutation(event)

    # -- mutations ----------------------------------------------------------------------

    def _dumps(self, event: Any) -> str:
        return json.dumps(event)

    def _paths(self, event: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
        """Every (object, key) inside `event`, so a mutation can hit any depth."""
        out: list[tuple[dict[str, Any], str]] = []
        stack: list[Any] = [event]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    out.append((node, key))
                    stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
        return out

    def _junk_value(self) -> Any:
        return self.rng.choice((None, True, False, 0, -1, 2**63, 1.5, -1e308, "", "x", [], {},
                                [None], {"a": {"b": []}}, "NaN"))

    def _wrong_type(self, event: dict[str, Any]) -> tuple[str, str]:
        paths = self._paths(event)
        for _ in range(self.rng.randint(1, 3)):
            obj, key = self.rng.choice(paths)
            obj[key] = self._junk_value()
        text = self._dumps(event)
        if self.rng.random() < 0.1:  # non-standard numbers Python's json reads
            text = text.replace("1.5", "NaN").replace("-1", "-Infinity")
        return "wrong type", text

    def _missing_field(self, event: dict[str, Any]) -> tuple[str, str]:
        paths = self._paths(event)
        for _ in range(self.rng.randint(1, 3)):
            obj, key = self.rng.choice(paths)
            obj.pop(key, None)
        return "missing field", self._dumps(event)

    def _huge_string(self, event: dict[str, Any]) -> tuple[str, str]:
        if self.huge_left <= 0:
            return self._wrong_type(event)
        self.huge_left -= 1
        obj, key = self.rng.choice(self._paths(event))
        obj[key] = self.rng.choice("ab é€") * HUGE
        return "1 MB string", self._dumps(event)

    def _unknown_ids(self, event: dict[str, Any]) -> tuple[str, str]:
        for obj, key in self._paths(event):
            if key in ("item_id", "response_id", "id", "call_id", "previous_item_id"):
                obj[key] = f"{key}_{self.rng.getrandbits(48):x}"
        return "unknown item", self._dumps(event)

    def _bad_audio(self, event: dict[str, Any]) -> tuple[str, str]:
        event = {"type": "response.output_audio.delta", "response_id": event.get("response_id"),
                 "item_id": event.get("item_id"), "output_index": 0, "content_index": 0}
        event["delta"] = self.rng.choice((
            "!!!!", "AAA", "A", "====", "@@@@@@@@", "AAAA" * 3 + "*",
            base64.b64encode(b"\x01").decode(),  # half a sample
            base64.b64encode(b"\x01\x02\x03").decode(),  # an odd byte count
            "", None, 7, ["AAAA"], "AA==AA==",
        ))
        if self.rng.random() < 0.5:
            event["item_id"] = f"item_{self.rng.getrandbits(40):x}"
        return "invalid audio", self._dumps(event)

    def _unknown_type(self, event: dict[str, Any]) -> tuple[str, str]:
        event["type"] = self.rng.choice(("", "response", "response.output_audio.delta.extra",
                                         "x" * 300, "RESPONSE.DONE", "rt.unknown",
                                         "response.audio.delta"))  # a beta name
        return "unknown type", self._dumps(event)

    def _empty_payload(self, event: dict[str, Any]) -> tuple[str, str]:
        return "empty payload", self._dumps({"type": event["type"]})

    def _surrogates(self, event: dict[str, Any]) -> tuple[str, str]:
        strings = [(o, k) for o, k in self._paths(event) if isinstance(o[k], str) and k != "type"]
        if not strings:
            return self._wrong_type(event)
        obj, key = self.rng.choice(strings)
        obj[key] = obj[key] + self.rng.choice(self.odd_chars)
        return "odd unicode", self._dumps(event)  # json.dumps escapes a lone surrogate: \\ud800

    def _error_codes(self, event: dict[str, Any]) -> tuple[str, str]:
        error = {"type": self.rng.choice(("invalid_request_error", "server_error", None, 3)),
                 "code": self.rng.choice(ERROR_CODES),
                 "message": self.rng.choice(("bad", "", None, "x" * 5000, "multi\nline")),
                 "param": self.rng.choice((None, "item_id", "", 5)),
                 "event_id": self.rng.choice((None, "evt_unknown", 0))}
        if self.rng.random() < 0.2:
            error = self.rng.choice((None, "text", [], {}))  # type: ignore[assignment]
        return "error event", self._dumps({"type": "error", "event_id": "event_f", "error": error})

    def _nested(self, depth: int) -> str:
        inner = "[" * depth + "]" * depth if self.rng.random() < 0.5 else \
            '{"a":' * depth + "{}" + "}" * depth
        return '{"type": "session.updated", "session": ' + inner + "}"
