"""Gemini Live prices: per-turn usage (text and audio, thinking as text output) priced by the
same table as OpenAI's models."""

from __future__ import annotations

import pytest

from realtime_cli.pricing import estimate_cost, price_for
from realtime_cli.usage import TokenUsage


@pytest.mark.parametrize("model", ["gemini-3.1-flash-live-preview"])
def test_a_gemini_turn_is_priced_by_modality(model: str) -> None:
    turn = TokenUsage(input_tokens=1_500_000, input_text_tokens=500_000,
                      input_audio_tokens=1_000_000, output_tokens=1_100_000,
                      output_text_tokens=100_000, output_audio_tokens=1_000_000)
    assert estimate_cost(model, turn) == pytest.approx(0.375 + 3.00 + 0.45 + 12.00)


def test_no_cache_discount_for_live_models() -> None:
    price = price_for("gemini-3.1-flash-live-preview")
    assert price is not None
    assert (price.cached_text_in, price.cached_audio_in) == (price.text_in, price.audio_in)


def test_an_unlisted_gemini_model_has_no_price() -> None:
    assert estimate_cost("gemini-9-live", TokenUsage(input_tokens=10)) is None
    # the default model's audio prices were not found: no price rather than a guess
    assert estimate_cost("gemini-3.8-live", TokenUsage(input_tokens=10)) is None
