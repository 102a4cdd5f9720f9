"""Plausible token usage for `response.done` (the SDK's RealtimeResponseUsage shape;
docs/protocol.md#responses-and-output-audio).

Rules (the audio rates are the costs guide's; the rest is made up but stable, so tests and cost
displays have something real to add up):
- audio: user audio 1 token per 100 ms, assistant audio 1 token per 50 ms, wherever it is
  billed (the answer's output, or the context of a later response);
- text: 1 token per 4 characters, at least 1 for non-empty text;
- every response re-bills its whole context as input: the instructions plus every item in
  the conversation before it (user audio/text, earlier assistant replies, tool calls); an
  audio part counts as audio only (a transcript next to audio is not billed again);
- cached tokens are the context prefix already billed by an earlier response: walking the
  context in order, items (and the instructions) billed before count as cached until the first
  new or changed one. Truncating an item changes it, so it and everything after is re-billed.
  Cached tokens are part of `input_tokens`, as on the service.
- the input transcription is billed apart, in its own `usage` (`transcription_usage`): by
  duration for `whisper-1`, else in tokens (its audio at the user rate, its transcript as text);
- `rate_limits.updated` reports a 40,000 tokens-per-minute budget minus the tokens of this
  connection's last 60 s and the output tokens reserved for the new response.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from realtime_cli.server.item_store import StoredItem
from realtime_cli.server.wire import JsonDict
from realtime_cli.usage import TokenUsage, to_wire

MS_PER_USER_AUDIO_TOKEN = 100
MS_PER_ASSISTANT_AUDIO_TOKEN = 50
CHARS_PER_TEXT_TOKEN = 4
TOKENS_PER_MINUTE = 40_000
RESERVED_OUTPUT_TOKENS = 4_096


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TEXT_TOKEN)) if text else 0


def audio_tokens(ms: float, ms_per_token: int = MS_PER_ASSISTANT_AUDIO_TOKEN) -> int:
    return math.ceil(ms / ms_per_token) if ms > 0 else 0


@dataclass(frozen=True, slots=True)
class Tokens:
    text: int = 0
    audio: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.text + other.text, self.audio + other.audio)

    @property
    def total(self) -> int:
        return self.text + self.audio


def item_tokens(stored: StoredItem) -> Tokens:
    item = stored.item
    if item["type"] == "function_call":
        return Tokens(text=text_tokens(str(item.get("name", "")) + str(item.get("arguments", ""))))
    if item["type"] == "function_call_output":
        return Tokens(text=text_tokens(str(item.get("output", ""))))
    total = Tokens()
    rate = MS_PER_USER_AUDIO_TOKEN if item.get("role") == "user" else MS_PER_ASSISTANT_AUDIO_TOKEN
    for index, part in enumerate(item.get("content") or []):
        if index in stored.audio:
            total += Tokens(audio=audio_tokens(stored.audio_ms(index), rate))
        else:
            total += Tokens(text=text_tokens(str(part.get("text") or part.get("transcript") or "")))
    return total


def _fingerprint(stored: StoredItem) -> tuple[str, int, str]:
    content = stored.item.get("content") or []
    texts = "|".join(str(p.get("text") or p.get("transcript") or "") for p in content)
    return stored.id, sum(len(a) for a in stored.audio.values()), texts


class UsageLedger:
    """Per-connection billing memory: what was billed before, and when."""

    def __init__(self) -> None:
        self._billed: set[tuple[str, int, str]] = set()
        self._billed_instructions: str | None = None
        self._recent: list[tuple[float, int]] = []

    def input_usage(self, instructions: str, context: list[StoredItem]) -> tuple[Tokens, Tokens]:
        """(all input tokens, cached part) for a response over `context`; records the billing."""
        total = cached = Tokens(text=text_tokens(instructions))
        prefix = instructions == self._billed_instructions
        if not prefix:
            cached = Tokens()
        for stored in context:
            tokens = item_tokens(stored)
            total += tokens
            prefix = prefix and _fingerprint(stored) in self._billed
            if prefix:
                cached += tokens
        self._billed_instructions = instructions
        self._billed.update(_fingerprint(s) for s in context)
        return total, cached

    def bill_output(self, stored: StoredItem) -> None:
        self._billed.add(_fingerprint(stored))

    def rate_limits(self, now: float, *, exhausted: bool = False) -> JsonDict:
        """The token budget left; none at all after a rate-limited response."""
        self._recent = [(t, n) for t, n in self._recent if now - t < 60.0]
        used = sum(n for _, n in self._recent)
        remaining = 0 if exhausted else max(0, TOKENS_PER_MINUTE - used - RESERVED_OUTPUT_TOKENS)
        reset = round(60.0 * (TOKENS_PER_MINUTE - remaining) / TOKENS_PER_MINUTE, 3)
        return {"name": "tokens", "limit": TOKENS_PER_MINUTE, "remaining": remaining,
                "reset_seconds": reset}

    def spend(self, now: float, tokens: int) -> None:
        self._recent.append((now, tokens))


def usage_dict(input_total: Tokens, cached: Tokens, output: Tokens) -> JsonDict:
    """The `usage` object of `response.done` for these counts, in the service's shape."""
    return to_wire(TokenUsage(
        input_tokens=input_total.total,
        output_tokens=output.total,
        cached_tokens=cached.total,
        input_text_tokens=input_total.text,
        input_audio_tokens=input_total.audio,
        output_text_tokens=output.text,
        output_audio_tokens=output.audio,
        cached_text_tokens=cached.text,
        cached_audio_tokens=cached.audio,
    ))


def transcription_usage(model: str, audio_ms: float, transcript: str) -> JsonDict:
    """The `usage` of `input_audio_transcription.completed`, in the transcription model's terms
    (docs/protocol.md#input-audio-and-vad)."""
    if model == "whisper-1":
        return {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
    audio = audio_tokens(audio_ms, MS_PER_USER_AUDIO_TOKEN)
    text = text_tokens(transcript)
    return {"type": "tokens", "input_tokens": audio, "output_tokens": text,
            "total_tokens": audio + text,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio}}
