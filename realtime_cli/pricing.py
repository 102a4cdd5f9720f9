"""Realtime and input transcription model prices, in one place, and the cost estimate built on
them.

Prices are USD per 1 million tokens, and per minute of input audio for transcription models billed
by duration. A dated snapshot (`gpt-realtime-2025-08-28`) is priced as its family
(`gpt-realtime`) unless the table names the snapshot itself. An unknown model has no price: its
cost is None ("n/a"), never a guess. Config may override or extend the table with a dict such as
`{"gpt-realtime": {"audio_in": 30.0}, "my-model": {...all six token fields...}}`;
`audio_minute` is optional (0 when not given).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from realtime_cli.errors import ConfigError
from realtime_cli.usage import TokenUsage, TranscriptionUsage

__all__ = ["DEFAULT_PRICES", "ModelPrice", "estimate_cost", "price_for", "price_table",
           "session_cost", "transcription_cost"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrice:
    """USD per 1M tokens; `audio_minute` is USD per minute of input audio (duration-billed
    transcription such as whisper-1)."""

    text_in: float
    cached_text_in: float
    audio_in: float
    cached_audio_in: float
    text_out: float
    audio_out: float
    audio_minute: float = 0.0


PRICE_FIELDS = tuple(f.name for f in fields(ModelPrice) if f.name != "audio_minute")
"""The fields a model new to the table must all give."""
OPTIONAL_PRICE_FIELDS = ("audio_minute",)


def _realtime(text: tuple[float, float, float], audio: tuple[float, float, float]) -> ModelPrice:
    """A realtime model's price from its model page: (input, cached input, output) per 1M text and
    audio tokens."""
    return ModelPrice(text_in=text[0], cached_text_in=text[1], text_out=text[2],
                      audio_in=audio[0], cached_audio_in=audio[1], audio_out=audio[2])


def _transcription(text_in: float, audio_in: float, text_out: float) -> ModelPrice:
    """A token-billed transcription model: it reads audio (and a prompt) and writes text; no cached
    price is published, so cached tokens cost what uncached ones do."""
    return ModelPrice(text_in=text_in, cached_text_in=text_in, audio_in=audio_in,
                      cached_audio_in=audio_in, text_out=text_out, audio_out=0.0)


# Read from OpenAI's model pages (developers.openai.com/api/docs/models/MODEL) and pricing page in
# December 2026. gpt-realtime-1.5 and gpt-realtime-2.1-mini are priced as gpt-realtime and
# gpt-realtime-mini; gpt-realtime-2 writes text at $24. gpt-4o-realtime-preview-2024-10-01 is the
# first snapshot, whose audio cost more than the later ones (community posts quoting the pricing
# page then). The transcription models' audio input prices ($6 and $3) are the pricing page's
# audio-token rows; their model pages list only the text rows.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-realtime": _realtime((4.00, 0.40, 16.00), (32.00, 0.40, 64.00)),
    "gpt-realtime-1.5": _realtime((4.00, 0.40, 16.00), (32.00, 0.40, 64.00)),
    "gpt-realtime-2": _realtime((4.00, 0.40, 24.00), (32.00, 0.40, 64.00)),
    "gpt-realtime-mini": _realtime((0.60, 0.06, 2.40), (10.00, 0.30, 20.00)),
    "gpt-realtime-2.1-mini": _realtime((0.60, 0.06, 2.40), (10.00, 0.30, 20.00)),
    "gpt-4o-realtime-preview": _realtime((5.00, 2.50, 20.00), (40.00, 2.50, 80.00)),
    "gpt-4o-realtime-preview-2024-10-01": _realtime((5.00, 2.50, 20.00), (100.00, 20.00, 200.00)),
    "gpt-4o-mini-realtime-preview": _realtime((0.60, 0.30, 2.40), (10.00, 0.30, 20.00)),
    "gpt-4o-transcribe": _transcription(text_in=2.50, audio_in=6.00, text_out=10.00),
    "gpt-4o-mini-transcribe": _transcription(text_in=1.25, audio_in=3.00, text_out=5.00),
    "whisper-1": ModelPrice(text_in=0.0, cached_text_in=0.0, audio_in=0.0, cached_audio_in=0.0,
                            text_out=0.0, audio_out=0.0, audio_minute=0.006),
}

# Gemini Live models (docs/protocol.md#gemini-live). Their context caching is not offered, so a
# cached token costs what an uncached one does. gemini-3.1-flash-live-preview: text $0.75 in and
# $4.50 out; audio $3.00 in and $12.00 out, which Google's per-minute figures for it ($0.005 in,
# $0.018 out, read December 2026) give at 25 audio tokens a second. gemini-3.8-live (the default)
# is not listed: only its text prices were found, and a cost half guessed would be shown as
# certain; its sessions show "n/a" unless `[prices."gemini-3.8-live"]` in the config sets them.
DEFAULT_PRICES |= {
    "gemini-3.1-flash-live-preview": _realtime((0.75, 0.75, 4.50), (3.00, 3.00, 12.00)),
}

_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def price_table(
    overrides: Mapping[str, Mapping[str, float] | ModelPrice] | None = None,
) -> dict[str, ModelPrice]:
    """The default table with `overrides` applied (partial for known models, full for new)."""
    table = dict(DEFAULT_PRICES)
    for model, given in (overrides or {}).items():
        if isinstance(given, ModelPrice):
            table[model] = given
            continue
        unknown = sorted(set(given) - set(PRICE_FIELDS) - set(OPTIONAL_PRICE_FIELDS))
        if unknown:
            raise ConfigError(f"pricing for {model}: unknown field {unknown[0]!r}")
        values = {k: float(v) for k, v in given.items()}
        if model in table:
            table[model] = replace(table[model], **values)
        else:
            missing = [f for f in PRICE_FIELDS if f not in values]
            if missing:
                raise ConfigError(f"pricing for {model}: missing {', '.join(missing)}")
            table[model] = ModelPrice(**values)
    return table


def price_for(model: str, table: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    prices = DEFAULT_PRICES if table is None else table
    if model in prices:
        return prices[model]
    return prices.get(_DATE_SUFFIX.sub("", model))


def _token_cost(price: ModelPrice, usage: TokenUsage) -> float:
    u = usage.split()
    total = (
        (u.input_text_tokens - u.cached_text_tokens) * price.text_in
        + u.cached_text_tokens * price.cached_text_in
        + (u.input_audio_tokens - u.cached_audio_tokens) * price.audio_in
        + u.cached_audio_tokens * price.cached_audio_in
        + u.output_text_tokens * price.text_out
        + u.output_audio_tokens * price.audio_out
    )
    return total / 1_000_000


def estimate_cost(
    model: str, usage: TokenUsage, table: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """Estimated USD for `usage` on `model`; None when the model has no price."""
    price = price_for(model, table)
    return None if price is None else _token_cost(price, usage)


def transcription_cost(
    model: str | None, usage: TranscriptionUsage, table: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """Estimated USD for the input transcription: 0 when nothing was transcribed, None when
    something was but its model has no price."""
    if usage == TranscriptionUsage():
        return 0.0
    price = price_for(model, table) if model else None
    if price is None:
        return None
    return _token_cost(price, usage.tokens) + usage.seconds / 60 * price.audio_minute


def session_cost(
    model: str,
    usage: TokenUsage,
    *,
    transcription_model: str | None = None,
    transcription: TranscriptionUsage | None = None,
    table: Mapping[str, ModelPrice] | None = None,
) -> float | None:
    """The realtime model's cost plus its input transcription's; None when either part is
    unknown, so a total is never shown too low."""
    realtime = estimate_cost(model, usage, table)
    heard = transcription_cost(transcription_model, transcription or TranscriptionUsage(), table)
    return None if realtime is None or heard is None else realtime + heard
