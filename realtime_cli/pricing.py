"""Realtime model prices, in one place, and the cost estimate built on them.

Prices are USD per 1 million tokens. A dated snapshot (`gpt-realtime-2025-08-28`) is priced as
its family (`gpt-realtime`). An unknown model has no price: its cost is None ("n/a"), never a
guess. Config may override or extend the table with a dict such as
`{"gpt-realtime": {"audio_in": 30.0}, "my-model": {...all six fields...}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from realtime_cli.errors import ConfigError
from realtime_cli.usage import TokenUsage

__all__ = ["DEFAULT_PRICES", "ModelPrice", "estimate_cost", "price_for", "price_table"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrice:
    """USD per 1M tokens."""

    text_in: float
    cached_text_in: float
    audio_in: float
    cached_audio_in: float
    text_out: float
    audio_out: float


PRICE_FIELDS = tuple(f.name for f in fields(ModelPrice))

DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-realtime": ModelPrice(
        text_in=4.00,
        cached_text_in=0.40,
        audio_in=32.00,
        cached_audio_in=0.40,
        text_out=16.00,
        audio_out=64.00,
    ),
    "gpt-realtime-mini": ModelPrice(
        text_in=0.60,
        cached_text_in=0.06,
        audio_in=10.00,
        cached_audio_in=0.30,
        text_out=2.40,
        audio_out=20.00,
    ),
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
        unknown = sorted(set(given) - set(PRICE_FIELDS))
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




def estimate_cost(
    model: str, usage: TokenUsage, table: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """Estimated USD for `usage` on `model`; None when the model has no price."""
    price = price_for(model, table)
    if price is None:
        return None
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
