"""`rt sessions list|show|delete|export`: the stored sessions.

Imports stay light at module level (`rt sessions list` must start fast): storage modules come
in inside the commands, rich only when writing to a terminal.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import sqlite3

    from realtime_cli.pricing import ModelPrice
    from realtime_cli.storage.queries import SessionDetail, SessionSummary

sessions_app = typer.Typer(
    help=(
        "List, show, export and delete stored sessions.\n\n[bold]Examples[/]\n\n"
        "  rt sessions list\n\n  rt sessions show 3f2a\n\n"
        "  rt sessions export 3f2a --format wav -o talk.wav"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="RT_DATA_DIR",
        help="Directory holding rt's database (default: the platform's user data dir).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SessionId = Annotated[str, typer.Argument(help="Session id or a unique prefix of it.")]


def open_store(data_dir: Path | None) -> sqlite3.Connection:
    """The migrated database in `data_dir`, with dead sessions already marked crashed."""
    from realtime_cli.storage.db import open_db
    from realtime_cli.storage.paths import db_path

    return open_db(db_path(data_dir))


def _is_terminal() -> bool:
    return sys.stdout.isatty()


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _local_time(ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime(fmt)


# -- list -------------------------------------------------------------------------------------


@sessions_app.command("list")
def list_sessions(
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Show at most N.")] = 20,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show every session.")] = False,
    as_json: JsonFlag = False,
    data_dir: DataDir = None,
) -> None:
    """Stored sessions, newest first.

    [bold]Examples[/]

      rt sessions list

      rt sessions list --limit 5 --json

      rt sessions list --all
    """
    from realtime_cli.storage import queries

    conn = open_store(data_dir)
    try:
        rows = queries.list_sessions(conn, None if all_ else limit)
    finally:
        conn.close()
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False))
    elif not rows:
        typer.echo("No sessions yet. Start one with `rt talk`.")
    elif _is_terminal():
        _list_rich(rows)
    else:
        _list_plain(rows)


# YOU, ASST, TOOLS: user turns, assistant turns and tool calls, counted as everywhere in rt.
_HEADERS = ("ID", "STARTED", "DURATION", "YOU", "ASST", "TOOLS", "INTR", "STATUS", "TITLE")
_RIGHT = {2, 3, 4, 5, 6}  # the numbers
_STATUS = _HEADERS.index("STATUS")


def _list_cells(row: SessionSummary) -> tuple[str, ...]:
    from realtime_cli.storage.transcript import format_duration

    return (
        row.short_id,
        _local_time(row.created_at),
        format_duration(row.duration_s),
        str(row.user_turns),
        str(row.assistant_turns),
        str(row.tool_calls),
        str(row.interruptions),
        row.status,
        _title_cell(row),
    )


def _title_cell(row: SessionSummary) -> str:
    """The title; a failed session's reason comes first, so a narrow terminal still shows it."""
    if row.status == "failed" and row.end_reason:
        return f"[{row.end_reason}] {row.title or ''}".rstrip()
    return row.title or ""


def _list_plain(rows: list[SessionSummary]) -> None:
    table = [_HEADERS, *(_list_cells(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADERS) - 1)]
    for cells in table:
        pairs = enumerate(zip(cells[:-1], widths, strict=True))
        parts = [c.rjust(w) if i in _RIGHT else c.ljust(w) for i, (c, w) in pairs]
        typer.echo("  ".join([*parts, cells[-1]]).rstrip())


_STATUS_STYLE = {"active": "green", "crashed": "red", "failed": "red", "ended": ""}


def _list_rich(rows: list[SessionSummary]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    cells = [_list_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in [_HEADERS, *cells]) for i in range(len(_HEADERS))]
    title_room = max(12, console.width - sum(widths[:-1]) - 2 * (len(_HEADERS) - 1))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    for i, header in enumerate(_HEADERS):
        fixed = header != "TITLE"
        table.add_column(
            header,
            justify="right" if i in _RIGHT else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=widths[i] if fixed else None,
            max_width=None if fixed else title_room,
        )
    for row, cell in zip(rows, cells, strict=True):
        status = Text(cell[_STATUS], _STATUS_STYLE.get(row.status, ""))
        table.add_row(*cell[:_STATUS], status, Text(cell[-1]))
    console.print(table)


# -- show -------------------------------------------------------------------------------------


def _session_cost(detail: SessionDetail) -> float | None:
    """The realtime model's cost and the input transcription's (None when either is unknown)."""
    from realtime_cli.pricing import session_cost
    from realtime_cli.usage import TokenUsage

    usage = sum((t.usage for t in detail.turns), TokenUsage())
    transcription = detail.figures.transcription if detail.figures is not None else None
    model = detail.config.get("transcription_model")
    return session_cost(detail.summary.model, usage, table=configured_prices(),
                        transcription_model=model if isinstance(model, str) else None,
                        transcription=transcription)


def configured_prices() -> dict[str, ModelPrice]:
    """The price table with the config file's `[prices]` overrides (pricing.py is the default)."""
    from realtime_cli.settings import load_settings

    return load_settings({}).price_table()


def _load(data_dir: Path | None, session: str) -> SessionDetail:
    from realtime_cli.storage import queries

    conn = open_store(data_dir)
    try:
        return queries.load_detail(conn, queries.resolve_session_id(conn, session))
    finally:
        conn.close()


@sessions_app.command("show")
def show(session: SessionId, as_json: JsonFlag = False, data_dir: DataDir = None) -> None:
    """One session: transcript with cut marks where you interrupted, timings, tokens.

    [bold]Examples[/]

      rt sessions show 3f2a

      rt sessions show 3f2a --json
    """
    detail = _load(data_dir, session)
    cost = _session_cost(detail)
    if as_json:
        from realtime_cli.storage.export import export_json

        typer.echo(export_json(detail, cost_usd=cost))
        return
    _render_show(detail, cost, rich=_is_terminal())


def figure_rows(detail: SessionDetail) -> list[tuple[str, str]]:
    """The session's figures as (label, text) rows, in the words of the dashboard's summary."""
    from collections import Counter

    from realtime_cli.ui import figures

    if detail.figures is not None:
        return figures.figure_rows(detail.figures)
    # Stored before the core's figures were kept: the turns and interruptions its items and
    # interruption records allow; the rest was never measured.
    s = detail.summary
    rate = s.interruptions / s.assistant_turns if s.assistant_turns else None
    kinds = Counter(i.kind for i in detail.interruptions)
    return [
        ("Turns", figures.turns_text(s.user_turns, s.assistant_turns, s.tool_calls)),
        ("Interrupted", figures.interruptions_text(s.interruptions, kinds, rate, None)),
    ]


def _show_header(detail: SessionDetail, cost: float | None) -> list[str]:
    from realtime_cli.percentiles import percentile
    from realtime_cli.storage.transcript import format_duration

    s = detail.summary
    status = s.status + (f" ({s.end_reason})" if s.end_reason else "")
    latencies = [t.latency_ms for t in detail.turns if t.latency_ms is not None]
    p50 = percentile(latencies, 50)
    latency = f"p50 {p50:.0f} ms" if p50 is not None else "n/a"
    talk = format_duration((s.user_audio_ms + s.assistant_audio_ms) / 1000)
    lines = [
        f"Session      {s.id}",
        f"Title        {s.title or '(untitled)'}",
        f"Started      {_local_time(s.created_at, '%Y-%m-%d %H:%M:%S')}, "
        f"lasted {format_duration(s.duration_s)}, {status}",
        f"Model        {s.model or '?'}, voice {s.voice or '?'}",
        *(f"{label:<12} {text}" for label, text in figure_rows(detail)),
        f"Latency      {latency}, talk time {talk}",
        f"Tokens       input {s.input_tokens} (cached {s.cached_tokens}), "
        f"output {s.output_tokens}, est. cost "
        + ("n/a" if cost is None else f"${cost:.4f}"),
    ]
    for t in detail.turns:
        if t.error:
            lines.append(f"Failed       turn {t.turn_index}: {t.error}")
    for c in detail.connections:
        closed = _local_time(c.closed_at, "%H:%M:%S") if c.closed_at else "…"
        code = f", close {c.close_code}" if c.close_code is not None else ""
        why = f" {c.close_reason}" if c.close_reason else ""
        lines.append(
            f"Connection   #{c.index} {c.reason}: {_local_time(c.opened_at, '%H:%M:%S')} → "
            f"{closed}{code}{why}"
        )
    return lines


def _render_show(detail: SessionDetail, cost: float | None, *, rich: bool) -> None:
    from rich.text import Text

    from realtime_cli.storage.transcript import cut_label, format_offset, transcript_lines

    out: list[Text] = [Text(line) for line in _show_header(detail, cost)]
    out.append(Text(""))
    lines = transcript_lines(detail)
    if not lines:
        out.append(Text("(no conversation items stored)"))
    for line in lines:
        text = Text()
        text.append(f"[{format_offset(line.offset_s)}] ", style="dim")
        text.append(f"{line.speaker}: ", style="bold cyan" if line.speaker == "you" else "bold")
        text.append(line.heard)
        if line.cut_ms is not None:
            text.append(f" {cut_label(line.cut_ms)}", style="bold red")
            rest = line.unheard.strip()
            if rest:
                text.append(f" {rest}" if rich else f" [unheard: {rest}]", style="dim strike")
        if line.status not in ("completed", "") and line.cut_ms is None:
            text.append(f" ({line.status})", style="dim")
        out.append(text)
        extra = []
        if line.latency_ms is not None:
            extra.append(f"latency {line.latency_ms:.0f} ms")
        if line.audio_ms:
            extra.append(f"{line.audio_ms / 1000:.1f} s audio")
        if extra and line.speaker == "assistant":
            out.append(Text(" " * 10 + ", ".join(extra), style="dim"))
    if rich:
        from rich.console import Console

        console = Console(highlight=False)
        for t in out:
            console.print(t)
    else:
        for t in out:
            typer.echo(t.plain)


# -- delete -----------------------------------------------------------------------------------


@sessions_app.command("delete")
def delete(
    sessions: Annotated[list[str], typer.Argument(help="Session ids or unique prefixes.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Delete sessions with their transcripts, audio and metrics.

    [bold]Examples[/]

      rt sessions delete 3f2a

      rt sessions delete 3f2a 9bc1 --yes
    """
    from realtime_cli.errors import ConfigError, StorageError
    from realtime_cli.storage import queries

    conn = open_store(data_dir)
    try:
        ids = list(dict.fromkeys(queries.resolve_session_id(conn, s) for s in sessions))
        summaries = [queries.get_summary(conn, sid) for sid in ids]
        live = [s for s in summaries if s.status == "active"]
        if live:
            raise StorageError(
                f"session {live[0].short_id} is still active in another rt process; end it first"
            )
        if not yes:
            if not _stdin_is_terminal():
                raise ConfigError("refusing to delete without confirmation: pass --yes")
            for s in summaries:
                typer.echo(f"  {s.short_id}  {_local_time(s.created_at)}  {s.title or ''}")
            if not typer.confirm(f"Delete {len(ids)} session(s)?", default=False):
                typer.echo("Nothing deleted.", err=True)
                raise typer.Exit(1)
        count = queries.delete_sessions(conn, ids)
    finally:
        conn.close()
    typer.echo(f"Deleted {count} session(s).", err=True)


# -- export -----------------------------------------------------------------------------------


class ExportFormat(enum.StrEnum):
    JSON = "json"
    MD = "md"
    WAV = "wav"


@sessions_app.command("export")
def export(
    session: SessionId,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json, md (Markdown) or wav.")
    ] = ExportFormat.JSON,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write (json/md default: stdout; wav: <id>.wav)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export one session as JSON, Markdown, or a WAV of the conversation as heard.

    [bold]Examples[/]

      rt sessions export 3f2a --format md

      rt sessions export 3f2a --format json -o talk.json

      rt sessions export 3f2a --format wav -o talk.wav
    """
    from realtime_cli.storage import export as exporter
    from realtime_cli.storage import queries

    conn = open_store(data_dir)
    try:
        sid = queries.resolve_session_id(conn, session)
        if fmt is ExportFormat.WAV:
            out = output or Path(f"{sid[:queries.SHORT_ID]}.wav")
            ms = exporter.export_wav(conn, sid, out)
            typer.echo(f"Wrote {out} ({ms / 1000:.2f} s of audio).", err=True)
            return
        detail = queries.load_detail(conn, sid)
    finally:
        conn.close()
    cost = _session_cost(detail)
    if fmt is ExportFormat.JSON:
        text = exporter.export_json(detail, cost_usd=cost) + "\n"
    else:
        text = exporter.export_markdown(detail, cost_usd=cost, figures=figure_rows(detail))
    if output is None:
        typer.echo(text, nl=False)
        return
    _write_text(output, text)
    typer.echo(f"Wrote {output}.", err=True)


def _write_text(path: Path, text: str) -> None:
    from realtime_cli.errors import StorageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
