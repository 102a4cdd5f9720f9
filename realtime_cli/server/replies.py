"""What `rt serve` says: short replies that are true about the turn, never invented words.

There is no language model and no recognizer offline, so a reply describes its input:
"Turn 2. You spoke for 1.4 seconds." for audio, a quote for typed text, the tool's output
after a function call. With `--script FILE` the lines of the file are used in order (cycling).
Default replies last about 3-5 s of speech so barge-in tests can interrupt them.

A response may hold several output items, as the service's do
(docs/protocol.md#responses-and-output-audio). A script line lists them separated by ` || `:
text is a spoken (or text) message, `call:NAME` a call of that function, optionally followed by
its JSON arguments: `One moment. || call:get_weather {"city": "Oslo"}`. `--preamble TEXT` puts
a spoken message before every answer to a user turn.

Tool calls: a response becomes a `function_call` when `--tool-call NAME` forces it, when
`tool_choice` names a function (or is "required"), or when the user's latest text mentions a
declared tool's name (`get_weather` or "get weather"). Arguments are built from the tool's JSON
Schema: strings get the user's text, numbers 0, booleans false, arrays [], objects {}.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from realtime_cli.server.item_store import StoredItem
from realtime_cli.server.wire import JsonDict

QUOTE_WORDS = 12
TAIL = "This is rt serve."
ITEM_SEPARATOR = " || "
CALL_PREFIX = "call:"
USER_TURNS = ("speech", "audio", "text")


@dataclass(frozen=True, slots=True)
class Say:
    """An assistant message: spoken, or text when the response has no audio."""

    text: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function call item; `arguments` is the JSON string sent."""

    tool: JsonDict
    arguments: str


OutputPlan = Say | Call


@dataclass(frozen=True, slots=True)
class TurnInput:
    """The latest thing a response answers."""

    kind: str  # "speech" | "audio" | "text" | "tool_output" | "idle" | "none"
    text: str = ""
    seconds: float = 0.0
    tool_name: str = ""


def latest_input(items: list[StoredItem], idle_seconds: float | None = None) -> TurnInput:
    if idle_seconds is not None:
        return TurnInput("idle", seconds=idle_seconds)
    for stored in reversed(items):
        item = stored.item
        if item["type"] == "function_call_output":
            name = _call_name(items, str(item.get("call_id", "")))
            return TurnInput("tool_output", text=str(item.get("output", "")), tool_name=name)
        if item["type"] == "message" and item.get("role") == "user":
            return _user_input(stored)
    return TurnInput("none")


def _call_name(items: list[StoredItem], call_id: str) -> str:
    for stored in items:
        if stored.item["type"] == "function_call" and stored.item.get("call_id") == call_id:
            return str(stored.item.get("name", "tool"))
    return "tool"


def _user_input(stored: StoredItem) -> TurnInput:
    texts = [p.get("text", "") for p in stored.item["content"] if p.get("type") == "input_text"]
    if texts:
        return TurnInput("text", text=" ".join(texts))
    if stored.speech_ms is not None:
        return TurnInput("speech", seconds=stored.speech_ms / 1000.0)
    seconds = sum(stored.audio_ms(i) for i in stored.audio) / 1000.0
    if stored.audio or any(p.get("type") == "input_audio" for p in stored.item["content"]):
        return TurnInput("audio", seconds=seconds)
    return TurnInput("text", text="")


def _quote(text: str, limit: int = QUOTE_WORDS) -> str:
    words = text.split()
    return " ".join(words[:limit]) + (" ..." if len(words) > limit else "")


class ReplyWriter:
    """Chooses what a response holds; keeps the `--script` cursor of one connection."""

    def __init__(self, script: tuple[str, ...] = (), preamble: str | None = None) -> None:
        self._script = [line.strip() for line in script if line.strip()]
        self._next = 0
        self._preamble = preamble

    def outputs_for(self, turn: int, source: TurnInput, tool: JsonDict | None,
                    tools: list[JsonDict]) -> list[OutputPlan]:
        """The output items of the next response: `tool` when one is chosen, else the script's
        next line (or the default reply), after the preamble when the input is a user turn."""
        plans: list[OutputPlan]
        if tool is not None:
            plans = [Call(tool, arguments_for(tool, source))]
        elif self._script:
            line = self._script[self._next % len(self._script)]
            self._next += 1
            plans = parse_line(line, tools, source)
        else:
            plans = [Say(self.text_for(turn, source))]
        if self._preamble is not None and source.kind in USER_TURNS:
            plans.insert(0, Say(self._preamble))
        return plans

    def text_for(self, turn: int, source: TurnInput) -> str:
        """The default reply: one true sentence about the input."""
        head = f"Turn {turn}."
        if source.kind == "speech":
            return f"{head} You spoke for {source.seconds:.1f} seconds. {TAIL}"
        if source.kind == "audio":
            return f"{head} You sent {source.seconds:.1f} seconds of audio. {TAIL}"
        if source.kind == "text":
            said = _quote(source.text) if source.text.strip() else "nothing"
            return f'{head} You wrote: "{said}". {TAIL}'
        if source.kind == "tool_output":
            return f"{head} The {source.tool_name} tool returned: {_quote(source.text, 30)}"
        if source.kind == "idle":
            return f"{head} I have heard nothing for {source.seconds:.1f} seconds."
        return f"{head} The conversation is empty so far. {TAIL}"


def parse_line(line: str, tools: list[JsonDict], source: TurnInput) -> list[OutputPlan]:
    """A script line as output items (see the module docstring)."""
    by_name = {str(t.get("name")): t for t in tools}
    plans: list[OutputPlan] = []
    for part in (p.strip() for p in line.split(ITEM_SEPARATOR)):
        if not part.startswith(CALL_PREFIX):
            plans.append(Say(part))
            continue
        name, _, arguments = part[len(CALL_PREFIX):].strip().partition(" ")
        tool = by_name.get(name, {"type": "function", "name": name})
        plans.append(Call(tool, arguments.strip() or arguments_for(tool, source)))
    return plans


def _mentions(text: str, name: str) -> bool:
    lowered = text.lower()
    spaced = re.sub(r"[_\-]+", " ", name.lower())
    return name.lower() in lowered or spaced in lowered


def choose_tool(
    tools: list[JsonDict], tool_choice: Any, forced: str | None, source: TurnInput
) -> JsonDict | None:
    """The function tool to call for this turn, or None for a spoken/text reply."""
    if source.kind in ("tool_output", "idle"):
        return None
    functions = [t for t in tools if t.get("type", "function") == "function"]
    by_name = {str(t["name"]): t for t in functions}
    if forced:
        return by_name.get(forced, {"type": "function", "name": forced})
    if tool_choice == "none" or not functions:
        return None
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        name = str(tool_choice["name"])
        return by_name.get(name, {"type": "function", "name": name})
    if tool_choice == "required":
        return functions[0]
    if source.kind == "text":
        return next((t for t in functions if _mentions(source.text, str(t["name"]))), None)
    return None


def _placeholder(schema: Any, text: str) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(schema, dict) and schema.get("enum"):
        return schema["enum"][0]
    return {
        "string": text,
        "number": 0,
        "integer": 0,
        "boolean": False,
        "array": [],
        "object": {},
    }.get(kind if isinstance(kind, str) else "string", text)


def arguments_for(tool: JsonDict, source: TurnInput) -> str:
    """JSON arguments for `tool`, from its `parameters` schema (see module docstring)."""
    params = tool.get("parameters")
    props = params.get("properties", {}) if isinstance(params, dict) else {}
    wanted = params.get("required") if isinstance(params, dict) else None
    names = list(wanted) if isinstance(wanted, list) and wanted else list(props)
    text = source.text if source.kind == "text" else ""
    return json.dumps({name: _placeholder(props.get(name, {}), text) for name in names})
