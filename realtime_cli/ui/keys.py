"""Raw terminal keys for asyncio: decode bytes into keys, keys into `Action`s.

Three layers, the first two pure:

* `KeyDecoder` turns bytes from the terminal into key names (`"m"`, `"space"`, `"esc"`,
  `"ctrl-c"`, `"up"`, ...). A lone Esc and the start of an escape sequence look the same
  until the next byte arrives, so the decoder holds a trailing Esc and the reader calls
  `flush()` once `ESC_TIMEOUT_S` passed without more bytes.
* `action_for_key(key, push_to_talk)` maps a key to an `Action`; `LineEditor` handles the
  text typed after `t`. `p` is `PAUSE`; whoever feeds the core turns it into `RESUME` when the
  session is paused, since only the core knows that.
* `KeyReader` owns the terminal: it switches stdin to a raw-ish mode (no echo, no line
  buffering, no signals from Ctrl-C/Ctrl-Z/Ctrl-S, but output processing kept so Rich's
  newlines still work), reads with `loop.add_reader`, and restores the saved attributes on
  every way out: the context manager, `atexit`, and SIGTERM/SIGHUP (chained to whatever
  handler was there before).

Usage (from the runner)::

    async with KeyReader(push_to_talk=ptt, on_input_line=dashboard.set_input_line) as keys:
        async for press in keys:          # KeyCommand(action, text, force, exit_code)
            core.handle(UserCommand(now=clock.now(), action=press.action, text=press.text,
                                    exit_code=press.exit_code))

Ctrl-C arrives as a byte (ISIG is off): the first one is `QUIT` with `exit_code=130` (as if
SIGINT had arrived), a second within `FORCE_WINDOW_S` is that with `force=True` (the runner then
skips the graceful close). `q` is `QUIT` with `exit_code=0`.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import os
import signal
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from realtime_cli.core.inputs import Action

ESC_TIMEOUT_S = 0.05
FORCE_WINDOW_S = 2.0
CTRL_C_EXIT_CODE = 130  # 128 + SIGINT, what the shell reports for a Ctrl-C with ISIG on

ESC = "esc"
SPACE = "space"
ENTER = "enter"
BACKSPACE = "backspace"
TAB = "tab"
CTRL_C = "ctrl-c"
UNKNOWN = "unknown"

_NAMED = {" ": SPACE, "\r": ENTER, "\n": ENTER, "\x7f": BACKSPACE, "\x08": BACKSPACE, "\t": TAB}

_SEQUENCES = {
    "\x1b[A": "up", "\x1b[B": "down", "\x1b[C": "right", "\x1b[D": "left",
    "\x1bOA": "up", "\x1bOB": "down", "\x1bOC": "right", "\x1bOD": "left",
    "\x1b[H": "home", "\x1b[F": "end", "\x1bOH": "home", "\x1bOF": "end",
    "\x1b[3~": "delete", "\x1b[5~": "pageup", "\x1b[6~": "pagedown",
}


def key_name(ch: str) -> str:
    """The name of one decoded character: control characters become `ctrl-x`."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x20:
        return f"ctrl-{chr(code + 0x60)}"
    return ch


class KeyDecoder:
    """Bytes in, key names out; UTF-8 aware; a trailing Esc waits for `flush()`."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""

    @property
    def pending(self) -> bool:
        """True while an Esc (or a partial escape sequence) waits for more bytes."""
        return bool(self._buf)

    def decode(self, data: bytes) -> list[str]:
        """The keys completed by `data`; an Esc or a partial sequence is held back."""
        self._buf += self._utf8.decode(data)
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """No more bytes came in time: a held Esc is the Esc key itself."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[str]:
        keys: list[str] = []
        buf, i = self._buf, 0
        while i < len(buf):
            if buf[i] != "\x1b":
                keys.append(key_name(buf[i]))
                i += 1
                continue
            end = _sequence_end(buf, i)
            if end is None:  # incomplete: wait for more bytes unless time is up
                if not final:
                    break
                keys.append(ESC)
                i += 1
                continue
            if end == i + 1:
                keys.append(ESC)
            elif buf[i + 1] in "[O":
                keys.append(_SEQUENCES.get(buf[i:end], UNKNOWN))
            else:
                keys.append(f"alt-{key_name(buf[i + 1])}")
            i = end
        self._buf = buf[i:]
        return keys


def _sequence_end(buf: str, i: int) -> int | None:
    """Index just past the escape sequence starting at `buf[i]`, None if it is incomplete."""
    if i + 1 >= len(buf):
        return None
    nxt = buf[i + 1]
    if nxt == "\x1b":
        return i + 1  # Esc Esc: the first one stands alone
    if nxt == "O":  # SS3: exactly one more character
        return i + 3 if i + 2 < len(buf) else None
    if nxt != "[":
        return i + 2  # Alt+key
    j = i + 2
    while j < len(buf):  # CSI: parameter/intermediate bytes, then a final byte @..~
        if "\x40" <= buf[j] <= "\x7e":
            return j + 1
        j += 1
    return None


# ------------------------------------------------------------------ keys to actions


def action_for_key(key: str, push_to_talk: bool) -> Action | None:
    """The command a key stands for; None for keys that mean nothing here (and for `t`,
    which opens the line editor rather than acting)."""
    key = key.lower() if len(key) == 1 else key
    if key == SPACE:
        return Action.PUSH_TO_TALK if push_to_talk else Action.TOGGLE_MUTE
    if key == "m":
        return Action.TOGGLE_MUTE
    if key in ("i", ESC):
        return Action.INTERRUPT
    if key == "p":
        return Action.PAUSE
    if key in ("q", CTRL_C):
        return Action.QUIT
    return None


@dataclass(frozen=True, slots=True)
class KeyCommand:
    """What the user asked for: an action, the text for SEND_TEXT, `force` for a 2nd Ctrl-C,
    and for QUIT the process exit code (130 for Ctrl-C, 0 for `q`)."""

    action: Action
    text: str | None = None
    force: bool = False
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class EditResult:
    """`text` is the line so far; `done` ends editing: sent when `text` is not None."""

    text: str | None
    done: bool


class LineEditor:
    """The one-line editor behind `t`: printable keys insert, Backspace/Ctrl-U/Ctrl-W delete,
    Enter sends (an empty line cancels), Esc cancels."""

    def __init__(self) -> None:
        self.text = ""

    def apply(self, key: str) -> EditResult:
        if key == ENTER:
            return EditResult(self.text if self.text.strip() else None, done=True)
        if key == ESC:
            return EditResult(None, done=True)
        if key == BACKSPACE:
            self.text = self.text[:-1]
        elif key == "ctrl-u":
            self.text = ""
        elif key == "ctrl-w":
            self.text = self.text.rstrip()
            self.text = self.text[: self.text.rfind(" ") + 1]
        elif key == SPACE:
            self.text += " "
        elif len(key) == 1 and key.isprintable():
            self.text += key
        return EditResult(self.text, done=False)


# ------------------------------------------------------------------ the terminal


def raw_mode(attrs: list[Any]) -> list[Any]:
    """`attrs` (from tcgetattr) changed to: no echo, no canonical lines, no signal keys, no
    flow control, CR not mapped to NL; output processing (OPOST) left alone on purpose."""
    new = [*attrs]
    new[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
    new[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cc = list(new[6])
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    new[6] = cc
    return new


_EOF = object()
_RESTORE_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class KeyReader:
    """Keys from a terminal as `KeyCommand`s, for one asyncio loop.

    `fd` defaults to stdin. A non-terminal fd is read without touching any mode. Iteration
    ends when the fd reaches end of file. `on_input_line(text)` is called as the user types
    after `t` (`""` when editing starts, `None` when it ends), e.g. `Dashboard.set_input_line`.
    """

    def __init__(
        self,
        *,
        push_to_talk: bool = False,
        fd: int | None = None,
        on_input_line: Callable[[str | None], None] | None = None,
        esc_timeout_s: float = ESC_TIMEOUT_S,
        force_window_s: float = FORCE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.push_to_talk = push_to_talk
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.on_input_line = on_input_line
        self.esc_timeout_s = esc_timeout_s
        self.force_window_s = force_window_s
        self.clock = clock
        self._decoder = KeyDecoder()
        self._editor: LineEditor | None = None
        self._last_ctrl_c: float | None = None
        self._queue: asyncio.Queue[KeyCommand | object] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._esc_timer: asyncio.TimerHandle | None = None
        self._saved: list[Any] | None = None
        self._old_handlers: dict[int, Any] = {}

    # -- lifecycle

    def start(self) -> None:
        """Enter raw mode and start reading; call from inside the running loop."""
        self._loop = asyncio.get_running_loop()
        if os.isatty(self.fd):
            self._saved = termios.tcgetattr(self.fd)
            atexit.register(self.restore_terminal)
            self._install_signal_handlers()
            termios.tcsetattr(self.fd, termios.TCSANOW, raw_mode(self._saved))
        self._loop.add_reader(self.fd, self._on_readable)

    def close(self) -> None:
        """Stop reading and restore the terminal; safe to call more than once."""
        if self._esc_timer is not None:
            self._esc_timer.cancel()
            self._esc_timer = None
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None
        if self._editor is not None:
            self._editor = None
            self._set_input_line(None)
        self.restore_terminal()
        self._remove_signal_handlers()
        atexit.unregister(self.restore_terminal)

    def restore_terminal(self) -> None:
        saved, self._saved = self._saved, None
        if saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            except (termios.error, OSError):
                pass  # the terminal is gone; nothing left to restore

    async def __aenter__(self) -> KeyReader:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __enter__(self) -> KeyReader:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- iteration

    def __aiter__(self) -> KeyReader:
        return self

    async def __anext__(self) -> KeyCommand:
        item = await self._queue.get()
        if isinstance(item, KeyCommand):
            return item
        raise StopAsyncIteration

    @property
    def editing(self) -> bool:
        return self._editor is not None

    # -- reading

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # end of file (or the terminal hung up)
            if self._loop is not None:
                self._loop.remove_reader(self.fd)
            self._queue.put_nowait(_EOF)
            return
        if self._esc_timer is not None:
            self._esc_timer.cancel()
            self._esc_timer = None
        for key in self._decoder.decode(data):
            self.handle_key(key)
        if self._decoder.pending and self._loop is not None:
            self._esc_timer = self._loop.call_later(self.esc_timeout_s, self._flush_escape)

    def _flush_escape(self) -> None:
        self._esc_timer = None
        for key in self._decoder.flush():
            self.handle_key(key)

    def handle_key(self, key: str) -> None:
        """Turn one decoded key into commands (public so a runner can inject keys)."""
        if key == CTRL_C:
            now = self.clock()
            last, self._last_ctrl_c = self._last_ctrl_c, now
            if self._editor is not None:
                self._editor = None
                self._set_input_line(None)
            force = last is not None and now - last <= self.force_window_s
            self._emit(KeyCommand(Action.QUIT, force=force, exit_code=CTRL_C_EXIT_CODE))
            return
        if self._editor is not None:
            result = self._editor.apply(key)
            if not result.done:
                self._set_input_line(result.text)
                return
            self._editor = None
            self._set_input_line(None)
            if result.text is not None:
                self._emit(KeyCommand(Action.SEND_TEXT, text=result.text))
            return
        if key in ("t", "T"):
            self._editor = LineEditor()
            self._set_input_line("")
            return
        action = action_for_key(key, self.push_to_talk)
        if action is not None:
            self._emit(KeyCommand(action))

    def _emit(self, command: KeyCommand) -> None:
        self._queue.put_nowait(command)

    def _set_input_line(self, text: str | None) -> None:
        if self.on_input_line is not None:
            self.on_input_line(text)

    # -- signals: restore the terminal, then let the old disposition act

    def _install_signal_handlers(self) -> None:
        for sig in _RESTORE_SIGNALS:
            old = signal.getsignal(sig)
            if old is None or old == signal.SIG_IGN:
                continue  # set outside Python (cannot chain) or ignored on purpose
            try:
                signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: the context manager and atexit must do
                continue
            self._old_handlers[sig] = old

    def _remove_signal_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self._old_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.restore_terminal()
        old = self._old_handlers.get(signum, signal.SIG_DFL)
        self._remove_signal_handlers()
        if callable(old):
            old(signum, frame)
        else:
            os.kill(os.getpid(), signum)  # default disposition: die of the same signal
