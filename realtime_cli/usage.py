"""Token counts, as `response.done` reports them (docs/protocol.md#responses-and-output-audio):
one type for the protocol, the session metrics, the journal, the dashboard and the price estimate.

`TOKEN_FIELDS` names the counts once; the journal's columns, `rt stats` sums and the stored-turn
readers are derived from it, and `WIRE_PATHS` says where each count sits in the service's usage
object, for whoever reads or writes that shape. Cached tokens are part of the input tokens, not
extra to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenUsage:
    """Token counts as the server reports them in `response.done` usage.

    Totals may come without their text/audio split; `split()` then prices unsplit input and
    output as text (a lower bound) and spreads cached tokens in proportion to the input.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            **{f: getattr(self, f) + getattr(other, f) for f in TOKEN_FIELDS},
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TokenUsage:
        """The counts named by `TOKEN_FIELDS` in `values` (a database row, a dict), as ints;
        other keys are ignored, so a row holding more columns can be passed as it is."""
        return cls(**{f: int(values[f]) for f in TOKEN_FIELDS})

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in TOKEN_FIELDS}

    def split(self) -> TokenUsage:
        in_text, in_audio = self.input_text_tokens, self.input_audio_tokens
        if in_text + in_audio == 0:
            in_text = self.input_tokens
        out_text, out_audio = self.output_text_tokens, self.output_audio_tokens
        if out_text + out_audio == 0:
            out_text = self.output_tokens
        c_text, c_audio = self.cached_text_tokens, self.cached_audio_tokens
        if c_text + c_audio == 0 and self.cached_tokens > 0 and in_text + in_audio > 0:
            c_audio = round(self.cached_tokens * in_audio / (in_text + in_audio))
            c_text = self.cached_tokens - c_audio
        return replace(
            self,
            input_text_tokens=in_text,
            input_audio_tokens=in_audio,
            output_text_tokens=out_text,
            output_audio_tokens=out_audio,
            cached_text_tokens=min(c_text, in_text),
            cached_audio_tokens=min(c_audio, in_audio),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptionUsage:
    """What the input transcription model bills, from the `usage` of
    `conversation.item.input_audio_transcription.completed`: tokens for the gpt-4o-transcribe
    family, seconds of audio for models billed by duration (whisper-1). It is priced at the
    transcription model's prices, apart from the realtime model's `TokenUsage`."""

    tokens: TokenUsage = field(default_factory=TokenUsage)
    seconds: float = 0.0

    def __add__(self, other: TranscriptionUsage) -> TranscriptionUsage:
        return TranscriptionUsage(tokens=self.tokens + other.tokens,
                                  seconds=self.seconds + other.seconds)


TOKEN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TokenUsage))
"""The counts of a `TokenUsage`, in declaration order: also the journal's token columns."""

WIRE_PATHS: dict[str, tuple[str, ...]] = {
    "input_tokens": ("input_tokens",),
    "output_tokens": ("output_tokens",),
    "cached_tokens": ("input_token_details", "cached_tokens"),
    "input_text_tokens": ("input_token_details", "text_tokens"),
    "input_audio_tokens": ("input_token_details", "audio_tokens"),
    "output_text_tokens": ("output_token_details", "text_tokens"),
    "output_audio_tokens": ("output_token_details", "audio_tokens"),
    "cached_text_tokens": ("input_token_details", "cached_tokens_details", "text_tokens"),
    "cached_audio_tokens": ("input_token_details", "cached_tokens_details", "audio_tokens"),
}
"""Where each count sits in `response.done.response.usage` (the SDK's RealtimeResponseUsage)."""


def to_wire(usage: TokenUsage) -> dict[str, Any]:
    """`usage` in the service's nested shape, with the totals and zero image counts the service
    also sends (rt itself reads neither)."""
    out: dict[str, Any] = {"total_tokens": usage.input_tokens + usage.output_tokens}
    for name, path in WIRE_PATHS.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = getattr(usage, name)
    out["input_token_details"]["image_tokens"] = 0
    out["input_token_details"]["cached_tokens_details"]["image_tokens"] = 0
    return out
