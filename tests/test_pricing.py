"""The price table covers the current realtime and input transcription models, an unknown model
costs "n/a" (None), and a session's cost counts the input transcription at the transcription
model's own prices (tokens, or minutes of audio for whisper-1)."""

from __future__ import annotations

import pytest

from realtime_cli.errors import ConfigError
from realtime_cli.pricing import (
    DEFAULT_PRICES,
    ModelPrice,
    estimate_cost,
    price_for,
    price_table,
    session_cost,
    transcription_cost,
)
from realtime_cli.usage import TokenUsage, TranscriptionUsage

MILLION = 1_000_000


@pytest.mark.parametrize(("model", "text", "audio"), [
    # (input, cached input, output) per 1M tokens
    ("gpt-realtime", (4.0, 0.4, 16.0), (32.0, 0.4, 64.0)),
    ("gpt-realtime-mini", (0.6, 0.06, 2.4), (10.0, 0.3, 20.0)),
    ("gpt-4o-realtime-preview", (5.0, 2.5, 20.0), (40.0, 2.5, 80.0)),
    ("gpt-4o-mini-realtime-preview", (0.6, 0.3, 2.4), (10.0, 0.3, 20.0)),
])
def test_the_realtime_models_are_priced(model: str, text: tuple[float, float, float],
                                        audio: tuple[float, float, float]) -> None:
    p = DEFAULT_PRICES[model]
    assert (p.text_in, p.cached_text_in, p.text_out) == text
    assert (p.audio_in, p.cached_audio_in, p.audio_out) == audio
    assert p.audio_minute == 0.0


@pytest.mark.parametrize(("snapshot", "family"), [
    ("gpt-realtime-2025-08-28", "gpt-realtime"),
    ("gpt-realtime-mini-2025-12-15", "gpt-realtime-mini"),
    ("gpt-4o-realtime-preview-2025-06-03", "gpt-4o-realtime-preview"),
    ("gpt-4o-mini-realtime-preview-2024-12-17", "gpt-4o-mini-realtime-preview"),
])
def test_a_dated_snapshot_is_priced_as_its_family(snapshot: str, family: str) -> None:
    assert price_for(snapshot) == DEFAULT_PRICES[family]


def test_a_snapshot_priced_apart_keeps_its_own_price() -> None:
    old = price_for("gpt-4o-realtime-preview-2024-10-01")
    assert old is not None and old != DEFAULT_PRICES["gpt-4o-realtime-preview"]
    assert (old.audio_in, old.cached_audio_in, old.audio_out) == (100.0, 20.0, 200.0)


@pytest.mark.parametrize("model", ["my-model", "azure/my-deployment", "gpt-5", ""])
def test_an_unknown_model_costs_nothing_known(model: str) -> None:
    assert estimate_cost(model, TokenUsage(input_tokens=5)) is None
    assert session_cost(model, TokenUsage(input_tokens=5)) is None


@pytest.mark.parametrize(("model", "usd"), [
    # 1M audio tokens in + 1M text tokens in + 1M text tokens out
    ("gpt-4o-transcribe", 6.0 + 2.5 + 10.0),
    ("gpt-4o-mini-transcribe", 3.0 + 1.25 + 5.0),
])
def test_token_billed_transcription(model: str, usd: float) -> None:
    usage = TranscriptionUsage(tokens=TokenUsage(
        input_tokens=2 * MILLION, output_tokens=MILLION, input_audio_tokens=MILLION,
        input_text_tokens=MILLION))
    assert transcription_cost(model, usage) == pytest.approx(usd)


def test_whisper_is_billed_by_the_minute() -> None:
    assert transcription_cost("whisper-1", TranscriptionUsage(seconds=90.0)) == pytest.approx(
        1.5 * 0.006)


def test_no_transcription_usage_costs_nothing_whatever_the_model() -> None:
    assert transcription_cost(None, TranscriptionUsage()) == 0.0
    assert transcription_cost("my-asr", TranscriptionUsage()) == 0.0
    assert transcription_cost("my-asr", TranscriptionUsage(seconds=3.0)) is None
    assert transcription_cost(None, TranscriptionUsage(seconds=3.0)) is None


def test_a_session_costs_the_realtime_model_plus_its_transcription() -> None:
    realtime = TokenUsage(input_audio_tokens=MILLION, output_audio_tokens=MILLION)
    heard = TranscriptionUsage(tokens=TokenUsage(input_tokens=MILLION, input_audio_tokens=MILLION))
    assert session_cost("gpt-realtime", realtime) == pytest.approx(32.0 + 64.0)
    assert session_cost("gpt-realtime", realtime, transcription_model="gpt-4o-mini-transcribe",
                        transcription=heard) == pytest.approx(32.0 + 64.0 + 3.0)
    # A transcription priced nowhere makes the whole cost unknown rather than too low.
    assert session_cost("gpt-realtime", realtime, transcription_model="my-asr-deployment",
                        transcription=heard) is None


def test_transcription_usage_adds_up() -> None:
    a = TranscriptionUsage(tokens=TokenUsage(input_tokens=3, output_tokens=1), seconds=1.5)
    b = TranscriptionUsage(tokens=TokenUsage(input_tokens=2), seconds=2.0)
    assert a + b == TranscriptionUsage(tokens=TokenUsage(input_tokens=5, output_tokens=1),
                                       seconds=3.5)


def test_config_prices_a_duration_billed_model_and_checks_fields() -> None:
    tokens = dict.fromkeys(("text_in", "cached_text_in", "audio_in", "cached_audio_in",
                            "text_out", "audio_out"), 0.0)
    table = price_table({"my-asr": {**tokens, "audio_minute": 0.01},
                         "whisper-1": {"audio_minute": 0.012}})
    assert table["my-asr"] == ModelPrice(**tokens, audio_minute=0.01)
    assert transcription_cost("whisper-1", TranscriptionUsage(seconds=60.0), table) == 0.012
    with pytest.raises(ConfigError, match="missing"):
        price_table({"my-asr": {"audio_minute": 0.01}})
    with pytest.raises(ConfigError, match="unknown field 'per_minute'"):
        price_table({"whisper-1": {"per_minute": 0.01}})
