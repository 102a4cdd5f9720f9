"""`DashboardView`: the plain values the dashboard shows, projected from a `CoreSnapshot`.

`DashboardView.build` is pure: same snapshot and levels in, same view out. Nothing here knows
about Rich, so the projection is tested on its own and the renderer (`ui/dashboard.py`) only
lays the values out. The view is frozen, so Rich's refresh thread can read it while the event
loop builds the next one, without a lock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from realtime_cli.audio.interfaces import SinkStatus, SourceLevels
from realtime_cli.core.records import SessionFigures
from realtime_cli.core.snapshot import CoreSnapshot, TranscriptLine
from realtime_cli.core.states import SessionState

if TYPE_CHECKING:
    from realtime_cli.audio.echo import EchoStats

METER_FLOOR_DBFS = -60.0
"""The quietest level a meter shows; anything below is an empty bar."""

SHORT_ID_LEN = 8

INTERRUPTION_LABELS: dict[str, str] = {
    "speech_overlap": "barge-in",
    "cancel_request": "phrase",
    "manual_cancel": "key",
}
"""Short names for `InterruptionKind` values, in the order they are listed, so the counts fit a
narrow panel (and read the same in `rt sessions show` and `rt stats`)."""

STATE_STYLES: dict[str, str] = {
    "initializing": "yellow",
    "connected": "yellow",
    "configuring": "yellow",
    "ready": "bold green",
    "listening": "bold cyan",
    "processing": "bold magenta",
    "responding": "bold blue",
    "interrupted": "bold red",
    "paused": "bold black on yellow",  # nothing is sent or played: it must not look idle
    "closing": "yellow",
    "closed": "dim",
    "error": "bold white on red",
}


# ------------------------------------------------------------------ formatting helpers


def format_duration(seconds: float | None) -> str:
    """`mm:ss`, or `h:mm:ss` from one hour on; `--:--` when unknown. Negative shows as 00:00."""
    if seconds is None or math.isnan(seconds):
        return "--:--"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def format_tokens(count: int) -> str:
    """Compact token counts: `950`, `12.3k`, `1.20M`."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.0f} ms"


def format_cost(usd: float | None) -> str:
    if usd is None:
        return "n/a"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def percent(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.0f}%"


def format_dbfs(dbfs: float | None) -> str:
    if dbfs is None:
        return "   — dB"
    if math.isinf(dbfs) or dbfs <= METER_FLOOR_DBFS:
        return " -inf dB"
    return f"{dbfs:4.0f} dB"  # whole dB: the meter is no finer, and the view changes less


def meter_fraction(dbfs: float | None, floor: float = METER_FLOOR_DBFS) -> float:
    """Where `dbfs` sits between `floor` (0.0) and full scale (1.0), linear in dB."""
    if dbfs is None or math.isnan(dbfs) or dbfs <= floor:
        return 0.0
    return min(1.0, (dbfs - floor) / -floor)


def meter_bar(dbfs: float | None, width: int, floor: float = METER_FLOOR_DBFS) -> str:
    """A fixed-width bar: `█` for the level, `·` for the rest (always exactly `width` cells)."""
    if width <= 0:
        return ""
    filled = round(meter_fraction(dbfs, floor) * width)
    return "█" * filled + "·" * (width - filled)


def short_id(session_id: str) -> str:
    return session_id[:SHORT_ID_LEN] if session_id else "—"


def interruption_kinds(figures: SessionFigures) -> dict[str, int]:
    """Interruptions by `InterruptionKind` value, in `INTERRUPTION_LABELS` order."""
    return {"speech_overlap": figures.speech_overlaps, "cancel_request": figures.cancel_requests,
            "manual_cancel": figures.manual_cancels}


def rate_limit_text(rate_limits: Sequence[Mapping[str, Any]]) -> str:
    """The tightest of the server's rate limits (`rate_limits.updated`: name, limit, remaining,
    reset_seconds) as `68% tokens · 20 s` (what is left, of which limit, when it resets), short
    enough for the narrow usage panel; "" when the server sent none."""
    known = [r for r in rate_limits
             if isinstance(r.get("limit"), int | float) and isinstance(r.get("remaining"), int | float)]
    if not known:
        return ""

    def left(r: Mapping[str, Any]) -> float:
        return max(0.0, float(r["remaining"])) / max(1.0, float(r["limit"]))

    tightest = min(known, key=left)
    text = f"{percent(left(tightest))} {tightest.get('name') or '?'}"
    reset = tightest.get("reset_seconds")
    if isinstance(reset, int | float):
        text += f" · {reset:.1f} s" if reset < 10 else f" · {reset:.0f} s"
    return text


# ------------------------------------------------------------------ the view


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    """One transcript line split at the cut: `heard` was heard; `unheard` was cut off."""

    role: str
    kind: str
    heard: str
    unheard: str = ""
    cut: bool = False
    streaming: bool = False

    @classmethod
    def from_line(cls, line: TranscriptLine) -> TranscriptRow:
        cut = line.heard_chars is not None
        if cut:
            at = max(0, min(len(line.text), line.heard_chars or 0))
            heard, unheard = line.text[:at], line.text[at:]
        else:
            heard, unheard = line.text, ""
        return cls(
            role=line.role,
            kind=line.kind,
            heard=heard,
            unheard=unheard,
            cut=cut or line.interrupted,
            streaming=line.streaming,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardView:
    """Everything one dashboard frame shows, as plain immutable values."""

    # header
    session_short_id: str
    model: str
    voice: str
    endpoint_host: str
    state: str
    state_style: str
    connected: bool
    connection_index: int
    reconnects: int
    rollovers: int
    expires_in: str
    expiring_soon: bool
    elapsed: str
    mode: str
    # controls
    muted: bool
    push_to_talk: bool
    ptt_open: bool
    # levels (None: no such device, e.g. a WAV source or text-only output)
    mic_dbfs: float | None
    mic_speech: bool
    mic_overflows: int
    echo: str  # the echo handling and its state, e.g. "aec · -27 dB"; "" without a microphone
    echo_style: str
    out_dbfs: float | None
    buffered_ms: float | None
    underruns: int
    playing: bool
    # transcript
    transcript: tuple[TranscriptRow, ...]
    paused: bool
    # turn statistics: the core's figures (see SessionFigures), one meaning each
    user_turns: int
    assistant_turns: int
    tool_calls: int
    interruptions: tuple[tuple[str, int], ...]  # (label, count) of the kinds that happened
    heard_fraction: float | None
    last_latency_ms: float | None
    avg_latency_ms: float | None
    time_to_ready_ms: float | None
    idle: str
    errors: int
    # usage
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    fresh_input_tokens: int
    input_audio_tokens: int
    output_audio_tokens: int
    cost_usd: float | None
    rate_limit: str  # the tightest server rate limit left, "" when unknown
    # notice line and the text being typed (None when not typing)
    notice_level: str | None = None
    notice_text: str | None = None
    input_line: str | None = None

    @property
    def interruption_total(self) -> int:
        return sum(n for _, n in self.interruptions)

    @classmethod
    def build(
        cls,
        core: CoreSnapshot,
        mic: SourceLevels | None,
        sink: SinkStatus | None,
        *,
        figures: SessionFigures,
        endpoint_host: str,
        cost_usd: float | None,
        mode: str,
        rate_limits: Sequence[Mapping[str, Any]] = (),
    ) -> DashboardView:
        """Project one snapshot, the core's figures and the audio levels read at the same
        moment into a view."""
        state = str(core.state.value)
        expiring = core.expires_in_s is not None and core.expires_in_s < 300
        echo, echo_style = echo_text(mic.echo if mic is not None else None)
        return cls(
            session_short_id=short_id(core.session_id),
            model=core.model,
            voice=core.voice,
            endpoint_host=endpoint_host,
            state=state,
            state_style=STATE_STYLES.get(state, ""),
            connected=core.connected,
            connection_index=core.connection_index,
            reconnects=core.reconnects,
            rollovers=core.rollovers,
            expires_in=format_duration(core.expires_in_s),
            expiring_soon=expiring,
            elapsed=format_duration(core.elapsed_s),
            mode=mode,
            muted=core.muted,
            push_to_talk=core.push_to_talk,
            ptt_open=core.ptt_open,
            mic_dbfs=round(mic.level_dbfs) if mic is not None else None,  # meter precision
            mic_speech=bool(mic is not None and mic.speech and not core.muted),
            mic_overflows=mic.overflows if mic is not None else 0,
            echo=echo,
            echo_style=echo_style,
            out_dbfs=round(sink.level_dbfs) if sink is not None else None,
            buffered_ms=round(sink.buffered_ms, -1) if sink is not None else None,
            underruns=sink.underruns if sink is not None else 0,
            playing=bool(sink is not None and not sink.idle),
            transcript=tuple(TranscriptRow.from_line(line) for line in core.transcript),
            paused=core.state is SessionState.PAUSED,
            user_turns=figures.user_turns,
            assistant_turns=figures.assistant_turns,
            tool_calls=figures.tool_calls,
            interruptions=tuple((INTERRUPTION_LABELS[kind], n)
                                for kind, n in interruption_kinds(figures).items() if n),
            heard_fraction=figures.heard_fraction,
            last_latency_ms=core.last_latency_ms,
            avg_latency_ms=core.avg_latency_ms,
            time_to_ready_ms=figures.time_to_ready_ms,
            idle=format_duration(figures.idle_s),
            errors=figures.errors,
            input_tokens=core.tokens.input_tokens,
            output_tokens=core.tokens.output_tokens,
            cached_tokens=core.tokens.cached_tokens,
            fresh_input_tokens=max(0, core.tokens.input_tokens - core.tokens.cached_tokens),
            input_audio_tokens=core.tokens.input_audio_tokens,
            output_audio_tokens=core.tokens.output_audio_tokens,
            cost_usd=cost_usd,
            rate_limit=rate_limit_text(rate_limits),
            notice_level=core.notice_level,
            notice_text=_one_line(core.notice_text),
        )


def _one_line(text: str | None) -> str | None:
    """Notices are one line: the first non-empty line, or a traceback's last (the error)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def echo_text(stats: EchoStats | None) -> tuple[str, str]:
    """The echo row: which handling runs and whether it is holding the echo back (text, style)."""
    if stats is None:
        return "", ""
    if stats.mode == "off":
        return "off (headphones)", "dim"
    if stats.mode == "half-duplex":
        return ("half-duplex · gating", "yellow") if stats.active else ("half-duplex", "")
    if stats.warming_up:
        return "aec · learning the room", "yellow"
    return f"aec · {-abs(stats.echo_return_loss_db):.0f} dB", "green"
