"""The conversation as rt remembers it, and how it is replayed into a new server session.

A reconnect, a rollover and `rt resume` all start a server session with an empty conversation
(docs/protocol.md#replay-after-a-new-connection), so the history is sent again as text items:
user `input_text` (the transcript), assistant `output_text` (only what the user heard), tool
calls and their results, each with an id of at most 32 characters. Long histories are bounded:
the last `max_turns` user turns are replayed and older ones are summarised into the
instructions, so the new session does not start over the context limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from realtime_cli.core.records import ItemKind

MAX_ITEM_ID = 32
SUMMARY_CHARS = 4000
RESUME_REMINDER = (
    "This conversation is being continued from an earlier session; the earlier turns are in "
    "the conversation as text. Keep answering in speech, in the same voice and manner."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    local_id: str
    kind: ItemKind
    text: str = ""
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    duration_ms: float = 0.0
    cancelled: bool = False  # a tool call (or its output) the server withdrew


def item_payload(entry: HistoryEntry) -> dict[str, Any] | None:
    """The `conversation.item.create` item for one entry, or None when there is nothing to say."""
    item_id = entry.local_id[:MAX_ITEM_ID]
    if entry.cancelled:  # the server dropped the call: a new session is not told of it
        return None
    if entry.kind in (ItemKind.USER_AUDIO, ItemKind.USER_TEXT):
        text = entry.text.strip()
        if not text:
            if entry.kind is ItemKind.USER_TEXT or entry.duration_ms <= 0:
                return None
            text = f"(the user spoke for {entry.duration_ms / 1000:.1f} s; no transcript)"
        return {"id": item_id, "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}
    if entry.kind is ItemKind.ASSISTANT:
        if not entry.text.strip():
            return None
        return {"id": item_id, "type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": entry.text}]}
    if entry.kind is ItemKind.TOOL_CALL:
        return {"id": item_id, "type": "function_call", "call_id": entry.call_id or item_id,
                "name": entry.name or "unknown", "arguments": entry.arguments or "{}"}
    return {"id": item_id, "type": "function_call_output", "call_id": entry.call_id or item_id,
            "output": entry.output or ""}


def plan_replay(
    entries: Sequence[HistoryEntry], max_turns: int
) -> tuple[list[dict[str, Any]], str]:
    """Split history into items to replay and a summary of the older part (may be empty).

    The cut falls on a user turn so a tool call is never separated from its result.
    """
    user_positions = [i for i, e in enumerate(entries)
                      if e.kind in (ItemKind.USER_AUDIO, ItemKind.USER_TEXT)]
    cut = 0
    if len(user_positions) > max_turns:
        cut = user_positions[-max_turns]
    older, recent = entries[:cut], entries[cut:]
    items = [p for p in (item_payload(e) for e in recent) if p is not None]
    return items, summarise(older)


def summarise(entries: Sequence[HistoryEntry]) -> str:
    """A plain-text digest of older turns for the instructions, newest kept when too long."""
    lines: list[str] = []
    for e in entries:
        if e.kind in (ItemKind.USER_AUDIO, ItemKind.USER_TEXT) and e.text.strip():
            lines.append(f"User: {e.text.strip()}")
        elif e.kind is ItemKind.ASSISTANT and e.text.strip():
            lines.append(f"Assistant: {e.text.strip()}")
        elif e.kind is ItemKind.TOOL_CALL and not e.cancelled:
            lines.append(f"(tool {e.name} called with {e.arguments})")
    text = "\n".join(lines)
    if len(text) > SUMMARY_CHARS:
        text = "..." + text[-SUMMARY_CHARS:]
    return text


def resume_instructions(base: str, summary: str) -> str:
    parts = [base.strip(), RESUME_REMINDER]
    if summary:
        parts.append("Summary of the earlier part of the conversation:\n" + summary)
    return "\n\n".join(p for p in parts if p)
