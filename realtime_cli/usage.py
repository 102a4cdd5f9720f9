"""Token counts, as `response.done` reports them (PROTOCOL.md §5): one type for the protocol,
the session metrics, the dashboard and the price estimate.

Cached tokens are part of the input tokens, not extra to them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


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
            **{f: getattr(self, f) + getattr(other, f) for f in _USAGE_FIELDS},
        )

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


_USAGE_FIELDS = tuple(f.name for f in fields(TokenUsage))
