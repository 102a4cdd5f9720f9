"""`rt stats`: totals over the sessions started since a point in time.

Talk time is user audio plus the assistant audio the user heard (cut at truncation points).
Cost is estimated per session from its model's price (pricing.py); tokens of models without a
price are counted but not costed, and named in `unpriced_models`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from realtime_cli.errors import ConfigError
from realtime_cli.percentiles import percentile
from realtime_cli.pricing import ModelPrice, estimate_cost
from realtime_cli.usage import TOKEN_FIELDS, TokenUsage

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, *, now: float | None = None) -> float:
    """Epoch seconds for `7d`, `12h`, `30m`, `2w`, `2026-11-01` or `2026-11-01T09:30` (local)."""
    now = time.time() if now is None else now
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"bad --since {text!r}: use a duration like 7d, 12h, 30m or a date like 2026-11-01"
        ) from None
    return moment.timestamp()  # naive -> local time


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    since: float | None
    sessions: int
    turns: int
    interruptions: int
    user_audio_ms: float
    assistant_audio_ms: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_samples: int
    usage: TokenUsage
    cost_usd: float | None
    cost_by_model: dict[str, float | None] = field(default_factory=dict)
    unpriced_models: tuple[str, ...] = ()

    @property
    def talk_ms(self) -> float:
        return self.user_audio_ms + self.assistant_audio_ms

    def to_json(self) -> dict[str, Any]:
        u = self.usage
        split = u.split()  # text/audio breakdown, estimated where the server gave none
        return {
            "since": self.since,
            "sessions": self.sessions,
            "turns": self.turns,
            "interruptions": self.interruptions,
            "talk_time_s": round(self.talk_ms / 1000, 3),
            "user_audio_s": round(self.user_audio_ms / 1000, 3),
            "assistant_audio_s": round(self.assistant_audio_ms / 1000, 3),
            "latency_ms": {
                "p50": self.latency_p50_ms,
                "p95": self.latency_p95_ms,
                "samples": self.latency_samples,
            },
            "tokens": {
                "input": u.input_tokens,
                "input_cached": u.cached_tokens,
                "input_uncached": u.input_tokens - u.cached_tokens,
                "output": u.output_tokens,
                "input_text": split.input_text_tokens,
                "input_audio": split.input_audio_tokens,
                "cached_text": split.cached_text_tokens,
                "cached_audio": split.cached_audio_tokens,
                "output_text": split.output_text_tokens,
                "output_audio": split.output_audio_tokens,
            },
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "cost_by_model": {
                m: None if c is None else round(c, 6) for m, c in self.cost_by_model.items()
            },
            "unpriced_models": list(self.unpriced_models),
        }


_TOKEN_SUMS = ", ".join(f"COALESCE(SUM(t.{c}), 0) AS {c}" for c in TOKEN_FIELDS)


def compute_stats(
    conn: sqlite3.Connection,
    since: float | None = None,
    prices: Mapping[str, ModelPrice] | None = None,
) -> Stats:
    lower = -1.0 if since is None else since
    totals = conn.execute(
        """SELECT COUNT(*) AS sessions, COALESCE(SUM(turns), 0) AS turns,
               COALESCE(SUM(interruptions), 0) AS interruptions,
               COALESCE(SUM(user_audio_ms), 0) AS user_ms,
               COALESCE(SUM(assistant_audio_ms), 0) AS assistant_ms
           FROM sessions WHERE created_at >= ?""",
        (lower,),
    ).fetchone()
    latencies = [
        float(r[0])
        for r in conn.execute(
            """SELECT t.latency_ms FROM turns t JOIN sessions s ON s.id = t.session_id
               WHERE s.created_at >= ? AND t.latency_ms IS NOT NULL""",
            (lower,),
        )
    ]
    by_model = conn.execute(
        f"""SELECT s.model AS model, {_TOKEN_SUMS}
            FROM turns t JOIN sessions s ON s.id = t.session_id
            WHERE s.created_at >= ? GROUP BY s.model ORDER BY s.model""",
        (lower,),
    ).fetchall()
    usage = TokenUsage()
    costs: dict[str, float | None] = {}
    for row in by_model:
        model_usage = TokenUsage.from_mapping(dict(row))
        usage = usage + model_usage
        costs[str(row["model"])] = estimate_cost(str(row["model"]), model_usage, prices)
    priced = [c for c in costs.values() if c is not None]
    unpriced = tuple(m for m, c in costs.items() if c is None)
    return Stats(
        since=since,
        sessions=int(totals["sessions"]),
        turns=int(totals["turns"]),
        interruptions=int(totals["interruptions"]),
        user_audio_ms=float(totals["user_ms"]),
        assistant_audio_ms=float(totals["assistant_ms"]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_samples=len(latencies),
        usage=usage,
        cost_usd=sum(priced) if priced or not costs else None,
        cost_by_model=costs,
        unpriced_models=unpriced,
    )
