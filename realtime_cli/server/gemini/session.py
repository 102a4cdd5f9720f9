"""A Gemini Live session: the conversation, which outlives a connection when it is resumed.

Each connection of a session gets one new resumption handle right after `setupComplete`; every
handle of a session names the whole session as it is when resumed, not a snapshot taken when
the handle was issued (measured behaviour, docs/protocol.md#rt-serve---protocol-gemini). A
session can be resumed only while no connection holds it: resuming one that is still attached
is refused with 1011, as the service does while the old socket is open.

Usage is per turn, as the service reports it: the prompt is the whole context (instructions
and every earlier turn, audio at 32 tokens per second, text at 1 token per 4 characters), the
response is what this turn produced.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from realtime_cli.server.replies import ReplyWriter, TurnInput
from realtime_cli.server.usage import text_tokens
from realtime_cli.server.wire import JsonDict, padding

AUDIO_TOKENS_PER_SECOND = 32
HANDLE_LENGTH = 36


def audio_tokens(ms: float) -> int:
    return math.ceil(ms * AUDIO_TOKENS_PER_SECOND / 1000) if ms > 0 else 0


@dataclass(slots=True)
class Entry:
    """One part of the conversation: a user or model turn, a function call or its response."""

    role: str  # "user" | "model"
    text: str = ""
    audio_ms: float = 0.0
    speech: bool = False  # user audio whose turn the VAD detected
    call: JsonDict | None = None  # {"id", "name", "args"}
    response: JsonDict | None = None  # {"id", "name", "response"}

    def tokens(self) -> tuple[int, int]:
        """(text, audio) tokens of this entry in a later prompt; the text of an audio turn is
        its transcript, which is not billed again."""
        text = "" if self.audio_ms > 0 else self.text
        if self.call is not None or self.response is not None:
            text += json.dumps(self.call or self.response)
        return text_tokens(text), audio_tokens(self.audio_ms)

    def as_input(self) -> TurnInput:
        if self.response is not None:
            output = self.response.get("response", {})
            shown = output.get("output", output) if isinstance(output, dict) else output
            return TurnInput("tool_output", text=shown if isinstance(shown, str) else json.dumps(shown),
                             tool_name=str(self.response.get("name", "tool")))
        if self.audio_ms > 0 and not self.text:
            return TurnInput("speech" if self.speech else "audio", seconds=self.audio_ms / 1000)
        return TurnInput("text", text=self.text)


def usage_metadata(prompt: tuple[int, int], response: tuple[int, int]) -> JsonDict:
    """`usageMetadata` for one turn: (text, audio) tokens of the prompt and of the response."""

    def details(counts: tuple[int, int]) -> list[JsonDict]:
        text, audio = counts
        out = [{"modality": "TEXT", "tokenCount": text}] if text or not audio else []
        return out + ([{"modality": "AUDIO", "tokenCount": audio}] if audio else [])

    prompt_total, response_total = sum(prompt), sum(response)
    return {"promptTokenCount": prompt_total, "responseTokenCount": response_total,
            "totalTokenCount": prompt_total + response_total,
            "promptTokensDetails": details(prompt), "responseTokensDetails": details(response)}


@dataclass(slots=True)
class LiveSession:
    writer: ReplyWriter
    history: list[Entry] = field(default_factory=list)
    pending_calls: dict[str, str] = field(default_factory=dict)  # call id -> function name
    turns: int = 0
    attached: bool = False
    detached_at: float | None = None  # monotonic time its last connection ended
    input_ms: float = 0.0  # audio received over all its connections (the VAD timeline)

    def attach(self) -> None:
        self.attached, self.detached_at = True, None

    def detach(self) -> None:
        self.attached, self.detached_at = False, time.monotonic()

    def prompt_tokens(self, instructions: str) -> tuple[int, int]:
        text, audio = text_tokens(instructions), 0
        for entry in self.history:
            t, a = entry.tokens()
            text, audio = text + t, audio + a
        return text, audio

    def latest_input(self) -> TurnInput:
        for entry in reversed(self.history):
            if entry.role == "user":
                return entry.as_input()
        return TurnInput("none")


class SessionStore:
    """Every session of one server, by each of its handles: valid while it runs, or, with a
    `ttl`, until `ttl` seconds after the session's last connection ended."""

    def __init__(self, ttl: float | None = None) -> None:
        self._by_handle: dict[str, LiveSession] = {}
        self.ttl = ttl

    def new_handle(self, session: LiveSession) -> str:
        handle = padding(HANDLE_LENGTH)
        self._by_handle[handle] = session
        return handle

    def find(self, handle: str) -> LiveSession | None:
        session = self._by_handle.get(handle)
        if (session is not None and self.ttl is not None and session.detached_at is not None
                and time.monotonic() - session.detached_at >= self.ttl):
            return None  # expired
        return session


def call_arguments(arguments: str) -> Any:
    """A `Call` plan's JSON string as the `args` object of a functionCall."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return {"input": arguments}
    return value if isinstance(value, dict) else {"value": value}
