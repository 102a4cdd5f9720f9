"""`rt stats`: sessions (failed, crashed), turns, talk time, interruptions, latency, tokens and
cost over a period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from realtime_cli.storage.stats import Stats


def stats(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only sessions started since a duration ago (7d, 12h, 30m, 2w) or a date "
            "(2026-11-01, local time).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="RT_DATA_DIR",
            help="Directory holding rt's database (default: the platform's user data dir).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Usage totals: sessions, turns, talk time, interruptions, latency, tokens, cost.

    Turns are counted as everywhere in rt: user turns (what you said or typed), assistant turns
    (answers that said something) and tool calls.

    [bold]Examples[/]

      rt stats

      rt stats --since 7d

      rt stats --since 2026-11-01 --json
    """
    from realtime_cli.cli.sessions_cmd import configured_prices, open_store
    from realtime_cli.storage.stats import compute_stats, parse_since

    start = parse_since(since) if since else None
    conn = open_store(data_dir)
    try:
        result = compute_stats(conn, start, prices=configured_prices())
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    for line in format_stats(result):
        typer.echo(line)


def _n(value: int) -> str:
    return f"{value:,}"


def format_stats(s: Stats) -> list[str]:
    from datetime import datetime

    from realtime_cli.storage.transcript import format_duration
    from realtime_cli.ui.figures import interruptions_text, trouble_text, turns_text

    period = (
        "all time"
        if s.since is None
        else "since " + datetime.fromtimestamp(s.since).strftime("%Y-%m-%d %H:%M")
    )
    u = s.usage.split()
    if s.latency_p50_ms is None or s.latency_p95_ms is None:
        latency = "n/a"
    else:
        latency = (
            f"p50 {s.latency_p50_ms:.0f} ms, p95 {s.latency_p95_ms:.0f} ms "
            f"({s.latency_samples} responses)"
        )
    if s.cost_usd is None:
        cost = "n/a"
    else:
        cost = f"${s.cost_usd:.4f}"
    if s.unpriced_models:
        cost += f" (n/a for {', '.join(s.unpriced_models)})"
    return [
        f"Period          {period}",
        f"Sessions        {_n(s.sessions)} (failed {_n(s.failed)}, crashed {_n(s.crashed)})",
        f"Turns           {turns_text(s.user_turns, s.assistant_turns, s.tool_calls)}",
        f"Talk time       {format_duration(s.talk_ms / 1000)} "
        f"(you {format_duration(s.user_audio_ms / 1000)}, "
        f"assistant {format_duration(s.assistant_audio_ms / 1000)})",
        "Interruptions   " + interruptions_text(s.interruptions, s.interruptions_by_kind,
                                                s.interrupt_rate, s.heard_fraction),
        f"Trouble         {trouble_text(s.errors, s.reconnects, s.rollovers)}",
        f"Latency         {latency}",
        f"Input tokens    {_n(s.usage.input_tokens)} (cached {_n(s.usage.cached_tokens)}; "
        f"text {_n(u.input_text_tokens)}, audio {_n(u.input_audio_tokens)})",
        f"Output tokens   {_n(s.usage.output_tokens)} "
        f"(text {_n(u.output_text_tokens)}, audio {_n(u.output_audio_tokens)})",
        f"Estimated cost  {cost}",
    ]
