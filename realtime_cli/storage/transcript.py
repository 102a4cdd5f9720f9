"""A stored conversation as transcript lines, with the cut where the user interrupted.

Shared by `rt sessions show` (terminal) and the Markdown export, so both agree on what was
heard: for a truncated assistant item, `heard` is what played before the cut, `unheard` the rest
of the transcript the user never heard, and `cut_ms` the truncation point.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime_cli.core.records import ItemKind, ItemRecord, TurnRecord
from realtime_cli.storage.queries import SessionDetail

CUT_MARK = "✂"


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptLine:
    offset_s: float | None  # from the session start; None when the item has no time
    speaker: str  # "you" | "assistant" | "tool call" | "tool result"
    kind: ItemKind
    heard: str
    unheard: str = ""
    cut_ms: int | None = None  # set when the user interrupted this item
    latency_ms: float | None = None
    audio_ms: float = 0.0
    status: str = "completed"

    @property
    def interrupted(self) -> bool:
        return self.cut_ms is not None


def cut_label(cut_ms: int) -> str:
    return f"{CUT_MARK} [interrupted at {cut_ms / 1000:.2f} s]"


def split_heard(item: ItemRecord) -> tuple[str, str]:
    """(heard, unheard) text of an assistant item."""
    full = item.transcript or ""
    if not item.truncated:
        return (full or item.heard_text or ""), ""
    heard = item.heard_text or ""
    if full.startswith(heard):
        return heard, full[len(heard) :]
    return heard, ""  # the texts diverge: show only what we know was heard


def transcript_lines(detail: SessionDetail) -> list[TranscriptLine]:
    start = detail.summary.created_at
    turns: dict[str, TurnRecord] = {t.response_id: t for t in detail.turns}
    cuts = {i.item_local_id: i.position_ms for i in detail.interruptions}
    lines = []
    for item in detail.items:
        offset = item.created_at - start if item.created_at > 0 else None
        turn = turns.get(item.response_id or "")
        latency = turn.latency_ms if turn is not None else None
        if item.kind is ItemKind.ASSISTANT:
            heard, unheard = split_heard(item)
            cut = None
            if item.truncated:
                cut = item.audio_end_ms if item.audio_end_ms is not None else cuts.get(item.local_id)
                cut = 0 if cut is None else cut
            lines.append(
                TranscriptLine(
                    offset_s=offset,
                    speaker="assistant",
                    kind=item.kind,
                    heard=heard,
                    unheard=unheard,
                    cut_ms=cut,
                    latency_ms=latency,
                    audio_ms=item.audio_ms,
                    status=item.status,
                )
            )
        elif item.kind is ItemKind.TOOL_CALL:
            text = f"{item.name or '?'}({item.arguments or ''})"
            lines.append(_plain(offset, "tool call", item, text))
        elif item.kind is ItemKind.TOOL_RESULT:
            lines.append(_plain(offset, "tool result", item, item.output or ""))
        else:
            said = item.transcript or item.heard_text
            if said is None:
                said = "(audio, no transcript)" if item.kind is ItemKind.USER_AUDIO else ""
            lines.append(_plain(offset, "you", item, said))
    return lines


def _plain(offset: float | None, speaker: str, item: ItemRecord, text: str) -> TranscriptLine:
    return TranscriptLine(
        offset_s=offset,
        speaker=speaker,
        kind=item.kind,
        heard=text,
        audio_ms=item.audio_ms,
        status=item.status,
    )


def format_offset(offset_s: float | None) -> str:
    if offset_s is None:
        return "--:--.-"
    minutes, seconds = divmod(max(0.0, offset_s), 60)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
