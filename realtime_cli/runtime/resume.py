"""`rt resume`: turn a stored session back into a Conversation that continues it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import ItemKind, ItemRecord

# Settings a resumed conversation keeps from the stored one unless a flag overrides them.
KEPT_FIELDS = (
    "model", "voice", "instructions", "turn_detection", "threshold", "prefix_padding_ms",
    "silence_duration_ms", "create_response", "interrupt_response", "eagerness",
    "transcription_model", "noise_reduction", "speed", "max_output_tokens",
)


def history_from_records(items: tuple[ItemRecord, ...]) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for r in items:
        text = (r.heard_text if r.kind is ItemKind.ASSISTANT and r.truncated else r.transcript)
        out.append(HistoryEntry(
            local_id=r.local_id, kind=r.kind, text=text or "", call_id=r.call_id, name=r.name,
            arguments=r.arguments, output=r.output, duration_ms=r.audio_ms))
    return out


def stored_conversation(id_or_prefix: str, args: dict[str, Any],
                        build: Callable[[dict[str, Any], dict[str, Any] | None], Any]) -> Any:
    from realtime_cli.storage.paths import db_path
    from realtime_cli.storage.queries import load_session

    stored = load_session(db_path(args.get("data_dir")), id_or_prefix)
    if stored.status == "active":
        from realtime_cli.errors import StorageError

        raise StorageError(f"session {stored.short_id} is still open in another rt process")
    base = {k: stored.config[k] for k in KEPT_FIELDS if k in stored.config}
    base.setdefault("model", stored.model)
    base.setdefault("voice", stored.voice)
    base.setdefault("instructions", stored.instructions)
    if base.get("transcription_model") is None:
        base["transcription_model"] = ""
    conv = build(args, base)
    return replace(conv, session_id=stored.id, history=history_from_records(stored.items),
                   next_seq=stored.next_seq, resumed=True)
