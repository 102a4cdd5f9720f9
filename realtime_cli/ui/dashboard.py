"""The Rich dashboard: lays a `DashboardView` out as a `Layout`, refreshed by `Live`.

`render(view, width, height)` is a pure function of the view and the terminal size, so tests
print it to a fixed-size `Console`. `Dashboard` owns the `Live`: the event loop calls
`update(view)` with a fresh immutable view (a few times a second, never per audio frame) and
Rich's refresh thread calls `render` on whichever view is current. That reference swap is the
only thing the two threads share, so neither needs a lock.

Layout on a terminal of at least `FULL_MIN_WIDTH` x `FULL_MIN_HEIGHT`:

    header      session id, model, voice, host, state, connection, expiry, elapsed
    levels | turns | usage
    transcript  (the rest; newest lines at the bottom)
    notice      one line: the latest warning or error
    footer      the keys (or the line being typed)

Smaller terminals get a two-line header, the transcript, the notice and the footer.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from types import TracebackType

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.segment import Segment
from rich.text import Text

from realtime_cli.ui.view import (
    STATE_STYLES,
    DashboardView,
    TranscriptRow,
    format_cost,
    format_dbfs,
    format_ms,
    format_tokens,
    meter_bar,
    percent,
)

FULL_MIN_WIDTH = 80
FULL_MIN_HEIGHT = 20
HEADER_SIZE = 4
PANELS_SIZE = 8
PANEL_RATIOS = (10, 12, 8)  # levels, turns, usage: the turn figures are the longest rows
CUT_MARK = "✂"
UNHEARD_STYLE = "dim strike"
STREAMING_MARK = " …"
ROLE_LABELS = {"user": ("you", "bold cyan"), "assistant": ("asst", "bold blue"),
               "tool": ("tool", "bold magenta")}
LABEL_WIDTH = 6
NOTICE_STYLES = {"error": ("✖ ", "bold red"), "warning": ("⚠ ", "yellow"), "info": ("• ", "dim")}


def render(view: DashboardView, width: int, height: int) -> Layout:
    """The whole screen for `view` on a `width` x `height` terminal.

    The size chooses which panels appear and how wide the meters are; the returned `Layout`
    fills the height it is rendered at (Live passes the terminal's).
    """
    full = width >= FULL_MIN_WIDTH and height >= FULL_MIN_HEIGHT
    layout = Layout(name="root")
    if full:
        layout.split_column(
            Layout(header_panel(view), name="header", size=HEADER_SIZE),
            Layout(name="panels", size=PANELS_SIZE),
            Layout(transcript_panel(view), name="transcript", ratio=1),
            Layout(notice_line(view), name="notice", size=1),
            Layout(footer_line(view), name="footer", size=1),
        )
        levels, turns, usage = PANEL_RATIOS
        # The levels panel's width less its border and padding (4), label (4), the dB reading
        # and speech mark (9 + 2) and the gaps.
        bar = max(3, min(30, width * levels // sum(PANEL_RATIOS) - 4 - 4 - 9 - 2 - 1))
        layout["panels"].split_row(
            Layout(levels_panel(view, bar), name="levels", ratio=levels),
            Layout(turns_panel(view), name="turns", ratio=turns),
            Layout(usage_panel(view), name="usage", ratio=usage),
        )
        return layout
    parts = [
        Layout(compact_header(view), name="header", size=2),
        Layout(TranscriptTail(view.transcript), name="transcript", ratio=1),
    ]
    if view.notice_text:
        parts.append(Layout(notice_line(view), name="notice", size=1))
    parts.append(Layout(footer_line(view), name="footer", size=1))
    layout.split_column(*parts)
    return layout


# ------------------------------------------------------------------ header


def state_label(view: DashboardView) -> Text:
    return Text(f" {view.state.upper()} ", style=view.state_style)


def connection_text(view: DashboardView) -> Text:
    if view.connected:
        text = Text("● connected", style="green")
    elif view.state in ("closed", "closing", "error"):
        text = Text("○ offline", style="dim")
    else:
        text = Text("◌ connecting", style="yellow")
    if view.connection_index > 1:
        text.append(f" · conn #{view.connection_index}", style="dim")
    if view.reconnects:
        plural = "" if view.reconnects == 1 else "s"
        text.append(f" · {view.reconnects} reconnect{plural}", style="yellow")
    if view.rollovers:
        text.append(f" · {view.rollovers} rollover", style="dim")
    return text


def timing_text(view: DashboardView) -> Text:
    text = Text()
    text.append("expires ", style="dim")
    text.append(view.expires_in, style="bold yellow" if view.expiring_soon else "")
    text.append("  elapsed ", style="dim")
    text.append(view.elapsed)
    text.append(f"  {view.mode}", style="dim")
    return text


def header_panel(view: DashboardView) -> Panel:
    title = Text.assemble(
        ("rt ", "bold"),
        (view.session_short_id, "bold"),
        "  ",
        view.model,
        (" · ", "dim"),
        view.voice,
        (" · ", "dim"),
        view.endpoint_host,
    )
    return Panel(Group(TwoSides(title, state_label(view)),
                       TwoSides(connection_text(view), timing_text(view))), padding=(0, 1))


class TwoSides:
    """One header row: `left` gives way (ellipsis) so `right` is always shown whole."""

    def __init__(self, left: Text, right: Text) -> None:
        self.left, self.right = left, right

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        right = self.right.copy()
        column = min(width - 1, right.cell_len)  # the left keeps a cell, for its ellipsis
        right.rstrip()  # right-justified: trailing blanks move to the left, unstyled
        right.truncate(column, overflow="ellipsis")
        right.pad_left(column - right.cell_len)
        left = self.left.copy()
        left.truncate(width - right.cell_len, overflow="ellipsis", pad=True)
        line = Text()  # `render` ignores a text's own style: append_text makes it a span
        line.append_text(left)
        line.append_text(right)
        yield from line.render(console)
        yield Segment.line()


def compact_header(view: DashboardView) -> Group:
    first = Text.assemble(
        (view.session_short_id, "bold"), " ", view.model, " ", state_label(view),
        no_wrap=True, overflow="ellipsis",
    )
    second = connection_text(view)
    second.append(f"  {view.expires_in} left  {view.elapsed}", style="dim")
    if view.paused:
        second.append("  PAUSED", style=STATE_STYLES["paused"])
    if view.muted:
        second.append("  MUTED", style="bold red")
    second.no_wrap = True
    second.overflow = "ellipsis"
    return Group(first, second)


# ------------------------------------------------------------------ levels, turns, usage


class LabelRows:
    """Label and value columns; a value too long for the panel is cut, never the label.

    Drawn line by line rather than as a Rich `Table`, which measured its columns again on
    every frame: the three panels' tables were half of a frame's work."""

    def __init__(self, label_width: int) -> None:
        self.label_width = label_width
        self.rows: list[tuple[str, Text]] = []

    def add_row(self, label: str, value: str | Text) -> None:
        self.rows.append((label, value if isinstance(value, Text) else Text(value)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        value_width = max(0, options.max_width - self.label_width - 1)
        for label, value in self.rows:
            cell = value.copy()
            cell.truncate(value_width, overflow="ellipsis", pad=True)
            name = Text(label)
            name.truncate(self.label_width, overflow="ellipsis", pad=True)
            line = Text(no_wrap=True)  # `render` ignores a text's own style: spans only
            line.append(name.plain + " ", style="dim")
            line.append_text(cell)
            yield from line.render(console)
            yield Segment.line()


def levels_panel(view: DashboardView, bar_width: int) -> Panel:
    grid = LabelRows(4)
    if view.paused:
        mic = Text("PAUSED", style=STATE_STYLES["paused"])
    elif view.muted:
        mic = Text("MUTED", style="bold red")
    elif view.mic_dbfs is None:
        mic = Text("no input", style="dim")
    else:
        mic = Text(meter_bar(view.mic_dbfs, bar_width), style="green")
        mic.append(f" {format_dbfs(view.mic_dbfs)}")
        mic.append(" ●" if view.mic_speech else " ○",
                   style="bold green" if view.mic_speech else "dim")
    grid.add_row("mic", mic)
    if view.out_dbfs is None:
        out = Text("no output", style="dim")
    else:
        out = Text(meter_bar(view.out_dbfs, bar_width), style="blue")
        out.append(f" {format_dbfs(view.out_dbfs)}")
        out.append(" ▶" if view.playing else "", style="bold blue")
    grid.add_row("out", out)
    buf = Text(format_ms(view.buffered_ms))
    buf.append(f" · {view.underruns} underruns", style="yellow" if view.underruns else "dim")
    grid.add_row("buf", buf)
    if view.echo:
        grid.add_row("echo", Text(view.echo, style=view.echo_style))
    if view.push_to_talk:
        ptt = (Text("● talking", style="bold green") if view.ptt_open
               else Text("○ space to talk", style="dim"))
        grid.add_row("ptt", ptt)
    elif view.mic_overflows:
        grid.add_row("", Text(f"{view.mic_overflows} overflows", style="yellow"))
    return Panel(grid, title="levels", title_align="left", padding=(0, 1))


def turns_panel(view: DashboardView) -> Panel:
    """User turns, assistant turns and tool calls (as `rt sessions` and `rt stats` count them),
    interruptions by kind with the share of the cut answers heard, latency, readiness, idle."""
    grid = LabelRows(5)
    grid.add_row("you", Text.assemble(
        (str(view.user_turns), "bold"), " · asst ", (str(view.assistant_turns), "bold"),
        " · tools ", (str(view.tool_calls), "bold")))
    cuts = Text(str(view.interruption_total))
    if view.interruptions:
        detail = " · ".join(f"{kind} {n}" for kind, n in view.interruptions)
        cuts.append(f" ({detail})", style="dim")
    grid.add_row("cut", cuts)
    heard = view.heard_fraction
    grid.add_row("heard", Text("—", style="dim") if heard is None
                 else Text(f"{percent(heard)} of cut answers"))
    grid.add_row("lat", Text.assemble(format_ms(view.last_latency_ms),
                                      (f" · avg {format_ms(view.avg_latency_ms)}", "dim")))
    ready = Text(format_ms(view.time_to_ready_ms))
    if view.errors:
        ready.append(f" · errors {view.errors}", style="red")
    grid.add_row("ready", ready)
    grid.add_row("idle", view.idle)
    return Panel(grid, title="turns · latency", title_align="left", padding=(0, 1))


def usage_panel(view: DashboardView) -> Panel:
    grid = LabelRows(6)
    grid.add_row("in", f"{format_tokens(view.input_tokens)} tok")
    grid.add_row("fresh", format_tokens(view.fresh_input_tokens))
    grid.add_row("cached", format_tokens(view.cached_tokens))
    grid.add_row("out", f"{format_tokens(view.output_tokens)} tok")
    grid.add_row("cost", Text(f"≈ {format_cost(view.cost_usd)}", style="bold"))
    grid.add_row("limit", Text(view.rate_limit or "—", style="" if view.rate_limit else "dim"))
    return Panel(grid, title="usage", title_align="left", padding=(0, 1))


# ------------------------------------------------------------------ transcript


def transcript_row_text(row: TranscriptRow) -> Text:
    """The row's body: heard text, then `✂` and the unheard rest (dim, struck) when cut."""
    body = Text(row.heard)
    if row.cut:
        body.append(CUT_MARK, style="bold red")
        body.append(row.unheard, style=UNHEARD_STYLE)
    if row.streaming:
        body.append(STREAMING_MARK, style="bold")
    if row.kind in ("tool_call", "tool_result"):
        body.stylize("magenta")
    return body


WRAP_CACHE_ROWS = 512  # wrapped rows kept between frames: a screenful many times over


class TranscriptTail:
    """The newest transcript rows that fit the region, bottom-aligned like a chat log.

    Wrapping depends on the width Rich gives the region, so the tail is cut here, at render
    time, where that width is known. A finished row wraps the same way every frame, so its
    lines are kept (`_wrapped`, by row and width): wrapping was a third of a frame's work, and
    only the row still streaming changes from one frame to the next.
    """

    _wrapped: dict[tuple[TranscriptRow, int], list[Text]] = {}

    def __init__(self, rows: tuple[TranscriptRow, ...]) -> None:
        self.rows = rows

    @classmethod
    def _lines(cls, console: Console, row: TranscriptRow, body_width: int) -> list[Text]:
        key = (row, body_width)
        lines = cls._wrapped.get(key)
        if lines is None:
            label, style = ROLE_LABELS.get(row.role, (row.role[:4], "bold"))
            wrapped = transcript_row_text(row).wrap(console, body_width, overflow="fold")
            lines = [Text.assemble(Text(f"{label:<{LABEL_WIDTH}}" if i == 0 else " " * LABEL_WIDTH,
                                        style=style), part) for i, part in enumerate(wrapped)]
            if len(cls._wrapped) >= WRAP_CACHE_ROWS:
                cls._wrapped.clear()
            cls._wrapped[key] = lines
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        body_width = max(1, width - LABEL_WIDTH)
        height = options.height or options.max_height
        if not self.rows:
            yield Text("(say something, or press t to type)", style="dim italic")
            return
        # Newest first, and stop once the region is full: the cost of a frame stays the same
        # however long the conversation gets.
        lines: list[Text] = []
        for row in reversed(self.rows):
            lines[:0] = self._lines(console, row, body_width)
            if height is not None and len(lines) >= height:
                break
        # Every line already fits the width: its segments go out as they are, without the
        # second wrapping pass Rich gives a `Text` (a third of the transcript's drawing).
        yield from Text("\n").join(_tail(lines, height)).render(console, end="\n")


def _tail(lines: list[Text], height: int | None) -> Iterable[Text]:
    if height is None or height <= 0:
        return lines if height is None else []
    return lines[-height:]


def transcript_panel(view: DashboardView) -> Panel:
    return Panel(TranscriptTail(view.transcript), title="transcript", title_align="left",
                 padding=(0, 1))


# ------------------------------------------------------------------ notice and footer


def notice_line(view: DashboardView) -> Text:
    if not view.notice_text:
        return Text(" ")  # not Text(""): Layout shows a placeholder for a falsy renderable
    icon, style = NOTICE_STYLES.get(view.notice_level or "info", NOTICE_STYLES["info"])
    return Text(icon + view.notice_text, style=style, no_wrap=True, overflow="ellipsis")


def footer_keys(push_to_talk: bool, paused: bool = False) -> list[tuple[str, str]]:
    keys = [("space", "talk"), ("m", "mute")] if push_to_talk else [("m/space", "mute")]
    return [*keys, ("i/Esc", "interrupt"), ("p", "resume" if paused else "pause"), ("t", "type"),
            ("q", "quit")]


def footer_line(view: DashboardView) -> Text:
    if view.input_line is not None:
        return Text.assemble(
            ("type › ", "bold"), view.input_line, ("▌", "blink"),
            ("   Enter send · Esc cancel", "dim"),
            no_wrap=True, overflow="ellipsis",
        )
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (key, what) in enumerate(footer_keys(view.push_to_talk, view.paused)):
        if i:
            text.append("  ")
        text.append(key, style="bold reverse")
        text.append(f" {what}", style="dim")
    return text


# ------------------------------------------------------------------ the live display


class Dashboard:
    """A `Live` display of the latest view.

    Usage (from the runner)::

        with Dashboard() as dash:
            while running:
                dash.update(DashboardView.build(core.snapshot(now), mic, sink, ...))
                ...
            # KeyReader's line editor echoes into the footer:
            dash.set_input_line("hello")   # None when done

    `screen=True` (the default) draws on the alternate screen: the dashboard fills the whole
    terminal, and a full-height Live on the main screen scrolls its top line away and leaves
    stale frames in the scrollback when the terminal is resized. The alternate screen is
    restored on exit, so the shell looks as it did; the conversation itself is in the journal
    (and the runner can print a summary after `stop()`). Pass `screen=False` to keep the last
    frame on screen instead.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        screen: bool = True,
        refresh_per_second: float = 4,
    ) -> None:
        self.console = console if console is not None else Console()
        self._view: DashboardView | None = None
        self._input_line: str | None = None
        self._drawn: tuple[object, object, object] | None = None
        self._period = 1.0 / refresh_per_second
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Live's own refresh thread redraws every tick; ours redraws only when the view, the
        # input line or the terminal size changed, which halves the CPU of a quiet session.
        self._live = Live(
            console=self.console,
            screen=screen,
            auto_refresh=False,
            get_renderable=self.renderable,
        )

    @property
    def view(self) -> DashboardView | None:
        return self._view

    def update(self, view: DashboardView) -> None:
        """Show `view` from the next refresh on (only the reference is swapped)."""
        self._view = view

    def set_input_line(self, text: str | None) -> None:
        """The text being typed after `t` (None hides the input line)."""
        self._input_line = text

    def renderable(self) -> RenderableType:
        """What Live draws now; runs on the refresh thread and only reads references."""
        view, line = self._view, self._input_line
        if view is None:
            return Text("rt: starting…", style="dim")
        if line is not None:
            view = dataclasses.replace(view, input_line=line)
        width, height = self.console.size
        return render(view, width, height)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._period):
            self.refresh_if_changed()

    def refresh_if_changed(self) -> bool:
        state = (self._view, self._input_line, self.console.size)
        if state == self._drawn:
            return False
        self._drawn = state
        self._live.refresh()
        return True

    def start(self) -> None:
        self._live.start(refresh=self._view is not None)
        self._stop.clear()
        self._thread = threading.Thread(target=self._refresh_loop, name="rt-dashboard",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._live.stop()

    def refresh(self) -> None:
        self._live.refresh()

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
