"""`rt stats`: totals over the sessions started since a point in time.

Turns and interruptions are the core's figures (`SessionFigures`), summed over the sessions;
sessions stored before those were kept count what their items allow (see `queries.TURN_FIGURES`).
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
from realtime_cli.storage.queries import FIGURES_JOIN, TURN_FIGURES
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
    failed: int  # ended by an error
    crashed: int  # the process died; nothing ended them
    user_turns: int
    assistant_turns: int
    tool_calls: int
    interruptions: int
    interruptions_by_kind: dict[str, int]
    heard_fraction: float | None  # average share of an interrupted answer that was heard
    errors: int  # sessions without figures add none
    reconnects: int
    rollovers: int
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

    @property
    def interrupt_rate(self) -> float | None:
        """Interruptions per assistant turn, as the core defines it for one session."""
        return self.interruptions / self.assistant_turns if self.assistant_turns else None

    def to_json(self) -> dict[str, Any]:
        u = self.usage
        split = u.split()  # text/audio breakdown, estimated where the server gave none
        return {
            "since": self.since,
            "sessions": self.sessions,
            "failed": self.failed,
            "crashed": self.crashed,
            "user_turns": self.user_turns,
            "assistant_turns": self.assistant_turns,
            "tool_calls": self.tool_calls,
            "interruptions": self.interruptions,
            "interruptions_by_kind": dict(self.interruptions_by_kind),
            "interrupt_rate": self.interrupt_rate,
            "heard_fraction": self.heard_fraction,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "rollovers": self.rollovers,
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
        f"""SELECT COUNT(*) AS sessions, COALESCE(SUM(failed), 0) AS failed,
               COALESCE(SUM(status = 'crashed'), 0) AS crashed,
               COALESCE(SUM(user_turns), 0) AS user_turns,
               COALESCE(SUM(assistant_turns), 0) AS assistant_turns,
               COALESCE(SUM(tool_calls), 0) AS tool_calls,
               COALESCE(SUM(interruptions), 0) AS interruptions,
               COALESCE(SUM(errors), 0) AS errors,
               COALESCE(SUM(reconnects), 0) AS reconnects,
               COALESCE(SUM(rollovers), 0) AS rollovers,
               SUM(heard_fraction * interruptions) / SUM(
                   CASE WHEN heard_fraction IS NULL THEN NULL ELSE interruptions END) AS heard,
               COALESCE(SUM(user_audio_ms), 0) AS user_ms,
               COALESCE(SUM(assistant_audio_ms), 0) AS assistant_ms
           FROM (SELECT s.failed, s.status, {TURN_FIGURES}, f.errors, f.reconnects, f.rollovers,
                     f.heard_fraction, s.user_audio_ms, s.assistant_audio_ms
                 FROM {FIGURES_JOIN} WHERE s.created_at >= ?)""",
        (lower,),
    ).fetchone()
    by_kind = _interruptions_by_kind(conn, lower)
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
        failed=int(totals["failed"]),
        crashed=int(totals["crashed"]),
        user_turns=int(totals["user_turns"]),
        assistant_turns=int(totals["assistant_turns"]),
        tool_calls=int(totals["tool_calls"]),
        interruptions=int(totals["interruptions"]),
        interruptions_by_kind=by_kind,
        heard_fraction=None if totals["heard"] is None else float(totals["heard"]),
        errors=int(totals["errors"]),
        reconnects=int(totals["reconnects"]),
        rollovers=int(totals["rollovers"]),
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


_KINDS = {"speech_overlap": "speech_overlaps", "cancel_request": "cancel_requests",
          "manual_cancel": "manual_cancels"}


def _interruptions_by_kind(conn: sqlite3.Connection, lower: float) -> dict[str, int]:
    """Interruptions by `InterruptionKind` value: the core's counts where a session has figures,
    its stored interruption records where it has none."""
    sums = ", ".join(f"COALESCE(SUM(f.{column}), 0) AS {kind}" for kind, column in _KINDS.items())
    row = conn.execute(
        f"""SELECT {sums} FROM sessions s JOIN session_figures f ON f.session_id = s.id
            WHERE s.created_at >= ?""", (lower,)).fetchone()
    out = {kind: int(row[kind]) for kind in _KINDS}
    for kind, count in conn.execute(
            """SELECT i.kind, COUNT(*) FROM interruptions i JOIN sessions s ON s.id = i.session_id
               WHERE s.created_at >= ?
                 AND NOT EXISTS (SELECT 1 FROM session_figures f WHERE f.session_id = s.id)
               GROUP BY i.kind""", (lower,)):
        out[str(kind)] = out.get(str(kind), 0) + int(count)
    return out
