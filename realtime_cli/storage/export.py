"""Exports of one stored session: JSON (everything but the audio), Markdown, and WAV.

The WAV rebuilds the conversation as the user heard it: each item's audio in `seq` order, user
audio whole and assistant audio cut at its truncation point, back to back, 24 kHz mono PCM16.
"""

from __future__ import annotations

import json
import sqlite3
import wave
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from realtime_cli.core.records import SessionFigures
from realtime_cli.errors import StorageError
from realtime_cli.storage.queries import SessionDetail
from realtime_cli.storage.transcript import cut_label, format_offset, transcript_lines
from realtime_cli.usage import TokenUsage, TranscriptionUsage


def detail_to_json(detail: SessionDetail, *, cost_usd: float | None = None) -> dict[str, Any]:
    session = detail.summary.to_json()
    session["instructions"] = detail.instructions
    session["config"] = detail.config
    session["cost_usd"] = cost_usd
    items = []
    for item in detail.items:
        row = {
            "local_id": item.local_id,
            "seq": item.seq,
            "kind": str(item.kind),
            "role": item.role,
            "server_id": item.server_id,
            "status": item.status,
            "transcript": item.transcript,
            "heard_text": item.heard_text,
            "truncated": item.truncated,
            "audio_end_ms": item.audio_end_ms,
            "audio_ms": item.audio_ms,
            "call_id": item.call_id,
            "name": item.name,
            "arguments": item.arguments,
            "output": item.output,
            "response_id": item.response_id,
            "created_at": item.created_at,
            "completed_at": item.completed_at,
            "input_tokens": item.input_tokens,
            "output_tokens": item.output_tokens,
            "audio_bytes": detail.audio_bytes.get(item.local_id, 0),
        }
        items.append(row)
    return {
        "session": session,
        "figures": None if detail.figures is None else figures_to_json(detail.figures),
        "items": items,
        "turns": [_fields(t) for t in detail.turns],
        "interruptions": [_fields(i) for i in detail.interruptions],
        "connections": [_fields(c) for c in detail.connections],
    }


def _fields(record: Any) -> dict[str, Any]:
    """A record's fields without its session id; a turn's token counts stay flat beside them,
    as the turns table stores them, and the input transcription's bill is one object."""
    out: dict[str, Any] = {}
    for name in record.__slots__:
        value = getattr(record, name)
        if isinstance(value, TokenUsage):
            out.update(value.as_dict())
        elif isinstance(value, TranscriptionUsage):
            out[name] = {"seconds": value.seconds, **value.tokens.as_dict()}
        elif name != "session_id":
            out[name] = value
    return out


def figures_to_json(figures: SessionFigures) -> dict[str, Any]:
    """Every figure the core kept (None for sessions stored before it kept them), with the
    interruption total and rate it derives."""
    return {**_fields(figures), "interruptions": figures.interruptions,
            "interrupt_rate": figures.interrupt_rate}


def export_json(detail: SessionDetail, *, cost_usd: float | None = None) -> str:
    return json.dumps(detail_to_json(detail, cost_usd=cost_usd), indent=2, ensure_ascii=False)


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("~", "\\~")


def export_markdown(detail: SessionDetail, *, cost_usd: float | None = None,
                    figures: Sequence[tuple[str, str]] = ()) -> str:
    """The session as a Markdown document; `figures` are its figure rows (label, text), worded
    as `rt sessions show` words them."""
    s = detail.summary
    started = datetime.fromtimestamp(s.created_at).strftime("%Y-%m-%d %H:%M:%S")
    title = s.title or "(untitled)"
    out = [
        f"# {_md_escape(title)}",
        "",
        f"- Session: `{s.id}`",
        f"- Started: {started}, status {s.status}"
        + (f" ({_md_escape(s.end_reason)})" if s.end_reason else ""),
        f"- Model: {s.model}, voice {s.voice}",
        *(f"- {label}: {_md_escape(text)}" for label, text in figures),
        f"- Tokens: input {s.input_tokens} (cached {s.cached_tokens}), output {s.output_tokens}"
        + ("" if cost_usd is None else f", estimated cost ${cost_usd:.4f}"),
        "",
        "## Transcript",
        "",
    ]
    for line in transcript_lines(detail):
        text = _md_escape(line.heard)
        if line.interrupted and line.cut_ms is not None:
            text += f" *{cut_label(line.cut_ms)}*"
            if line.unheard.strip():
                text += f" ~~{_md_escape(line.unheard.strip())}~~"
        out.append(f"**{line.speaker}** `{format_offset(line.offset_s)}`: {text}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def export_wav(conn: sqlite3.Connection, session_id: str, out: Path) -> float:
    """Write the conversation as heard to `out`; returns its length in ms.

    StorageError (one line) when the session has no stored audio.
    """
    from realtime_cli.audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH, bytes_to_ms, ms_to_samples

    rows = conn.execute(
        """SELECT i.role, i.kind, i.truncated, i.audio_end_ms, a.pcm
           FROM items i JOIN item_audio a
             ON a.session_id = i.session_id AND a.local_id = i.local_id
           WHERE i.session_id = ? AND i.kind IN ('user_audio', 'assistant')
           ORDER BY i.seq""",
        (session_id,),
    )
    total = 0
    tmp = out.with_name(out.name + ".part")
    try:
        with wave.open(str(tmp), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(SAMPLE_RATE)
            for row in rows:
                pcm = bytes(row["pcm"])
                cut = row["audio_end_ms"]
                if row["role"] == "assistant" and row["truncated"] and cut is not None:
                    pcm = pcm[: ms_to_samples(cut) * SAMPLE_WIDTH]
                wav.writeframes(pcm)
                total += len(pcm)
        if total == 0:
            raise StorageError(
                f"session {session_id[:8]} has no stored audio (was audio keeping off?)"
            )
        tmp.replace(out)
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return bytes_to_ms(total)
