"""`rt resume`: what a stored session hands the conversation that continues it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import ItemKind, ItemRecord, SessionFigures

# Settings a resumed conversation keeps from the stored one unless a flag overrides them.
KEPT_FIELDS = (
    "provider", "model", "voice", "instructions", "turn_detection", "threshold", "prefix_padding_ms",
    "silence_duration_ms", "create_response", "interrupt_response", "eagerness",
    "transcription_model", "noise_reduction", "speed", "max_output_tokens",
    "transcription_language", "stop_phrases", "output_modalities", "builtin_end_tool", "barge_in",
    "idle_timeout_s", "response_timeout_s", "connection_timeout_s",
)
# Stored as JSON lists; the settings hold them as tuples.
TUPLE_FIELDS = ("stop_phrases", "output_modalities")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredConversation:
    """A stored session to continue: its id, its history for the new server session, the next
    journal sequence number, and the settings it kept (setting name -> value, which the
    command line still overrides)."""

    session_id: str
    history: tuple[HistoryEntry, ...]
    next_seq: int
    settings: Mapping[str, Any]
    figures: SessionFigures | None = None  # what the earlier runs counted
    tools: tuple[dict[str, Any], ...] = ()  # the [[tools]] tables it ran with
    connections: int = 0  # the earlier runs' connections: the next one is numbered after them


def history_from_records(items: tuple[ItemRecord, ...]) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for r in items:
        text = (r.heard_text if r.kind is ItemKind.ASSISTANT and r.truncated else r.transcript)
        out.append(HistoryEntry(
            local_id=r.local_id, kind=r.kind, text=text or "", call_id=r.call_id, name=r.name,
            arguments=r.arguments, output=r.output, duration_ms=r.audio_ms,
            cancelled=r.status == "cancelled"))
    return out


def load_stored_conversation(data_dir: str | None, id_or_prefix: str) -> StoredConversation:
    """The session `id_or_prefix` names in `data_dir`'s database; StorageError if it is unknown,
    ambiguous, or still open in another rt process."""
    from realtime_cli.errors import StorageError
    from realtime_cli.storage.paths import db_path
    from realtime_cli.storage.queries import load_session

    stored = load_session(db_path(data_dir), id_or_prefix)
    if stored.status == "active":
        raise StorageError(f"session {stored.short_id} is still open in another rt process")
    kept = {k: stored.config[k] for k in KEPT_FIELDS if k in stored.config}
    for name in TUPLE_FIELDS:
        if isinstance(kept.get(name), list):
            kept[name] = tuple(kept[name])
    client = stored.config.get("client")
    client = client if isinstance(client, dict) else {}
    if isinstance(client.get("echo"), str):
        kept["echo"] = client["echo"]
    tools = tuple(t for t in client.get("tools") or () if isinstance(t, dict))
    kept.setdefault("model", stored.model)
    kept.setdefault("voice", stored.voice)
    kept.setdefault("instructions", stored.instructions)
    if kept.get("transcription_model") is None:
        kept["transcription_model"] = ""  # stored as off: keep it off, not the default model
    return StoredConversation(session_id=stored.id, history=tuple(history_from_records(stored.items)),
                              next_seq=stored.next_seq, settings=MappingProxyType(kept),
                              figures=stored.figures, tools=tools,
                              connections=stored.connection_count)
