from __future__ import annotations

from datetime import datetime

import pytest

from realtime_cli.core.records import ItemKind, ItemRecord
from realtime_cli.errors import ConfigError
from realtime_cli.percentiles import percentile
from realtime_cli.pricing import (
    DEFAULT_PRICES,
    ModelPrice,
    estimate_cost,
    price_for,
    price_table,
)
from realtime_cli.storage.sqlite import make_title
from realtime_cli.storage.stats import parse_since
from realtime_cli.storage.transcript import format_duration, format_offset, split_heard
from realtime_cli.usage import TokenUsage

MILLION = 1_000_000


def test_price_table_values() -> None:
    assert DEFAULT_PRICES["gpt-realtime"] == ModelPrice(
        text_in=4.0, cached_text_in=0.4, audio_in=32.0, cached_audio_in=0.4,
        text_out=16.0, audio_out=64.0,
    )
    assert DEFAULT_PRICES["gpt-realtime-mini"] == ModelPrice(
        text_in=0.6, cached_text_in=0.06, audio_in=10.0, cached_audio_in=0.3,
        text_out=2.4, audio_out=20.0,
    )


@pytest.mark.parametrize(
    ("field", "usd"),
    [
        ("input_text_tokens", 4.0),
        ("input_audio_tokens", 32.0),
        ("output_text_tokens", 16.0),
        ("output_audio_tokens", 64.0),
    ],
)
def test_one_million_of_each(field: str, usd: float) -> None:
    usage = TokenUsage(**{field: MILLION})
    assert estimate_cost("gpt-realtime", usage) == pytest.approx(usd)


def test_cached_input_is_priced_apart() -> None:
    usage = TokenUsage(
        input_tokens=2 * MILLION, cached_tokens=2 * MILLION,
        input_text_tokens=MILLION, input_audio_tokens=MILLION,
        cached_text_tokens=MILLION, cached_audio_tokens=MILLION,
    )
    assert estimate_cost("gpt-realtime", usage) == pytest.approx(0.4 + 0.4)
    assert estimate_cost("gpt-realtime-mini", usage) == pytest.approx(0.06 + 0.3)


def test_unsplit_totals_are_priced_as_text_and_cache_spread() -> None:
    u = TokenUsage(input_tokens=1000, output_tokens=500, cached_tokens=100).split()
    assert (u.input_text_tokens, u.output_text_tokens, u.cached_text_tokens) == (1000, 500, 100)
    u = TokenUsage(cached_tokens=100, input_text_tokens=250, input_audio_tokens=750).split()
    assert (u.cached_text_tokens, u.cached_audio_tokens) == (25, 75)


def test_unknown_model_and_snapshots() -> None:
    assert estimate_cost("my-model", TokenUsage(input_tokens=5)) is None
    assert price_for("gpt-realtime-2025-08-28") == DEFAULT_PRICES["gpt-realtime"]
    assert price_for("gpt-realtime-mini-2025-10-06") == DEFAULT_PRICES["gpt-realtime-mini"]


def test_overrides_from_config() -> None:
    table = price_table({"gpt-realtime": {"audio_in": 30.0}, "mine": dict.fromkeys(
        ("text_in", "cached_text_in", "audio_in", "cached_audio_in", "text_out", "audio_out"),
        1.0)})
    assert table["gpt-realtime"].audio_in == 30.0 and table["gpt-realtime"].text_in == 4.0
    assert estimate_cost("mine", TokenUsage(output_audio_tokens=MILLION), table) == 1.0
    assert DEFAULT_PRICES["gpt-realtime"].audio_in == 32.0  # defaults untouched
    with pytest.raises(ConfigError):
        price_table({"new": {"text_in": 1.0}})
    with pytest.raises(ConfigError):
        price_table({"gpt-realtime": {"bogus": 1.0}})


def test_parse_since() -> None:
    now = 1_800_000_000.0
    assert parse_since("7d", now=now) == now - 7 * 86400
    assert parse_since("12h", now=now) == now - 12 * 3600
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("2w", now=now) == now - 14 * 86400
    assert parse_since("2026-11-01") == datetime(2026, 11, 1).timestamp()
    for bad in ("", "yesterday", "7x", "-3d"):
        with pytest.raises(ConfigError):
            parse_since(bad, now=now)


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


def test_titles() -> None:
    assert make_title("  hello   there  ") == "hello there"
    long = "word " * 30
    title = make_title(long)
    assert len(title) <= 60 and title.endswith("…") and not title.startswith(" ")


def test_split_heard_when_texts_diverge() -> None:
    item = ItemRecord(session_id="s", local_id="a", seq=0, kind=ItemKind.ASSISTANT,
                      role="assistant", transcript="Hello world", heard_text="Hi wor",
                      truncated=True)
    assert split_heard(item) == ("Hi wor", "")
    whole = ItemRecord(session_id="s", local_id="a", seq=0, kind=ItemKind.ASSISTANT,
                       role="assistant", transcript="Hello world")
    assert split_heard(whole) == ("Hello world", "")


def test_formats() -> None:
    assert format_duration(59.6) == "1m00s"
    assert format_duration(3 * 3600 + 120) == "3h02m"
    assert format_offset(62.34) == "01:02.3"
    assert format_offset(None) == "--:--.-"
