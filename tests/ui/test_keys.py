"""Key decoding, key -> Action mapping (with `p` pausing and resuming), the line editor, and
KeyReader on a real pty."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import termios
from collections.abc import Iterator

import pytest
from helpers import Harness

from realtime_cli.core.inputs import Action
from realtime_cli.core.states import SessionState
from realtime_cli.runtime.interactive import pause_or_resume
from realtime_cli.ui.keys import (
    KeyCommand,
    KeyDecoder,
    KeyReader,
    LineEditor,
    action_for_key,
    raw_mode,
)

# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("key", "ptt", "action"),
    [
        ("m", False, Action.TOGGLE_MUTE), ("M", False, Action.TOGGLE_MUTE),
        ("space", False, Action.TOGGLE_MUTE), ("space", True, Action.PUSH_TO_TALK),
        ("m", True, Action.TOGGLE_MUTE), ("i", False, Action.INTERRUPT),
        ("esc", False, Action.INTERRUPT), ("esc", True, Action.INTERRUPT),
        ("q", False, Action.QUIT), ("ctrl-c", True, Action.QUIT), ("p", False, Action.PAUSE),
        ("P", True, Action.PAUSE),
        ("t", False, None), ("x", False, None), ("up", False, None), ("enter", False, None),
    ],
)
def test_action_for_key(key: str, ptt: bool, action: Action | None) -> None:
    assert action_for_key(key, push_to_talk=ptt) is action


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b"m", ["m"]),
        (b" iq", ["space", "i", "q"]),
        (b"\x03", ["ctrl-c"]),
        (b"\r\n\x7f\t", ["enter", "enter", "backspace", "tab"]),
        (b"\x1b[A\x1b[B\x1bOC", ["up", "down", "right"]),
        (b"\x1b[3~x", ["delete", "x"]),
        (b"\x1b[1;5A", ["unknown"]),
        (b"\x1b\x1b", ["esc", "esc"]),
        (b"\x1b\x1bm", ["esc", "alt-m"]),
        ("é".encode(), ["é"]),
    ],
)
def test_decoder(data: bytes, keys: list[str]) -> None:
    dec = KeyDecoder()
    got = dec.decode(data) + dec.flush()
    assert got == keys


def test_decoder_holds_a_lone_escape_until_flushed() -> None:
    dec = KeyDecoder()
    assert dec.decode(b"\x1b") == []
    assert dec.pending
    assert dec.flush() == ["esc"]
    assert not dec.pending


def test_decoder_joins_a_sequence_split_across_reads() -> None:
    dec = KeyDecoder()
    assert dec.decode(b"\x1b") == []
    assert dec.decode(b"[") == []
    assert dec.decode(b"A") == ["up"]
    assert dec.decode(b"\xc3") == []  # half a UTF-8 character
    assert dec.decode(b"\xa9") == ["é"]


def test_decoder_alt_key_is_not_an_escape() -> None:
    dec = KeyDecoder()
    assert dec.decode(b"\x1bm") == ["alt-m"]


def test_line_editor() -> None:
    ed = LineEditor()
    for key in ["h", "i", "space", "t", "h", "e", "r", "e", "backspace"]:
        result = ed.apply(key)
    assert (result.text, result.done) == ("hi ther", False)
    assert ed.apply("ctrl-w").text == "hi "
    assert ed.apply("up").text == "hi "  # non-printing keys are ignored
    assert ed.apply("enter").text == "hi " and ed.apply("enter").done


def test_line_editor_cancel_and_empty() -> None:
    ed = LineEditor()
    ed.apply("a")
    assert ed.apply("esc").text is None
    assert LineEditor().apply("enter").text is None  # nothing typed: cancel
    ed = LineEditor()
    ed.apply("a")
    assert ed.apply("ctrl-u").text == ""


def test_raw_mode_keeps_output_processing() -> None:
    attrs = [0xFFFF, termios.OPOST, 0, 0xFFFF, 0, 0, [b"\x00"] * 32]
    new = raw_mode(attrs)
    assert not new[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
    assert not new[0] & (termios.IXON | termios.ICRNL)
    assert new[1] & termios.OPOST
    assert attrs[3] == 0xFFFF  # the saved copy is not modified


# ------------------------------------------------------------------ KeyReader on a pty


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


async def next_command(keys: KeyReader) -> KeyCommand:
    async with asyncio.timeout(1.0):
        return await anext(keys)


async def no_command(keys: KeyReader) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await anext(keys)


async def test_reader_maps_keys_and_restores_the_terminal(pty: tuple[int, int]) -> None:
    master, slave = pty
    before = termios.tcgetattr(slave)
    async with KeyReader(fd=slave) as keys:
        during = termios.tcgetattr(slave)
        assert not during[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        os.write(master, b"m")
        assert await next_command(keys) == KeyCommand(Action.TOGGLE_MUTE)
        os.write(master, b" i\x1b[Aq")
        assert await next_command(keys) == KeyCommand(Action.TOGGLE_MUTE)
        assert await next_command(keys) == KeyCommand(Action.INTERRUPT)
        assert await next_command(keys) == KeyCommand(Action.QUIT)  # the arrow did nothing
    assert termios.tcgetattr(slave) == before


async def test_lone_escape_interrupts_after_the_timeout(pty: tuple[int, int]) -> None:
    master, slave = pty
    async with KeyReader(fd=slave, esc_timeout_s=0.02) as keys:
        os.write(master, b"\x1b")
        assert await next_command(keys) == KeyCommand(Action.INTERRUPT)


async def test_push_to_talk_space(pty: tuple[int, int]) -> None:
    master, slave = pty
    async with KeyReader(fd=slave, push_to_talk=True) as keys:
        os.write(master, b"  ")
        assert await next_command(keys) == KeyCommand(Action.PUSH_TO_TALK)
        assert await next_command(keys) == KeyCommand(Action.PUSH_TO_TALK)


async def test_ctrl_c_quits_and_a_second_one_forces(pty: tuple[int, int]) -> None:
    master, slave = pty
    now = [100.0]
    async with KeyReader(fd=slave, clock=lambda: now[0]) as keys:
        os.write(master, b"\x03")
        assert await next_command(keys) == KeyCommand(Action.QUIT, force=False, exit_code=130)
        now[0] += 1.5
        os.write(master, b"\x03")
        assert await next_command(keys) == KeyCommand(Action.QUIT, force=True, exit_code=130)
        now[0] += 5.0
        os.write(master, b"\x03")
        assert await next_command(keys) == KeyCommand(Action.QUIT, force=False, exit_code=130)


async def test_typing_a_message(pty: tuple[int, int]) -> None:
    master, slave = pty
    echoed: list[str | None] = []
    async with KeyReader(fd=slave, on_input_line=echoed.append) as keys:
        os.write(master, b"thi q\x7f!\r")  # q and space are text while typing
        assert await next_command(keys) == KeyCommand(Action.SEND_TEXT, text="hi !")
        assert echoed == ["", "h", "hi", "hi ", "hi q", "hi ", "hi !", None]
        assert not keys.editing
        os.write(master, b"tabc\x1b")
        await no_command(keys)  # the Esc is held, then cancels the line (no interrupt)
        assert echoed[-1] is None
        os.write(master, b"m")
        assert await next_command(keys) == KeyCommand(Action.TOGGLE_MUTE)


async def test_ctrl_c_while_typing_cancels_and_quits(pty: tuple[int, int]) -> None:
    master, slave = pty
    echoed: list[str | None] = []
    async with KeyReader(fd=slave, on_input_line=echoed.append) as keys:
        os.write(master, b"tab\x03")
        assert await next_command(keys) == KeyCommand(Action.QUIT, exit_code=130)
        assert echoed[-1] is None and not keys.editing


async def test_terminal_restored_when_the_body_raises(pty: tuple[int, int]) -> None:
    master, slave = pty
    before = termios.tcgetattr(slave)
    with pytest.raises(RuntimeError):
        async with KeyReader(fd=slave):
            assert termios.tcgetattr(slave) != before
            raise RuntimeError("boom")
    assert termios.tcgetattr(slave) == before


async def test_eof_ends_iteration() -> None:
    read_end, write_end = os.pipe()
    try:
        async with KeyReader(fd=read_end) as keys:  # not a tty: no mode change
            os.write(write_end, b"q")
            os.close(write_end)
            got = [c async for c in keys]
        assert got == [KeyCommand(Action.QUIT)]
    finally:
        os.close(read_end)


CHILD = """
import asyncio, sys
from realtime_cli.ui.keys import KeyReader

async def main():
    keys = KeyReader()
    keys.start()  # no context manager: only atexit or the signal handler can restore
    print("ready", flush=True)
    if sys.argv[1] == "sigterm":
        await asyncio.Event().wait()  # until the signal ends the process
    sys.exit(3)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["sigterm", "exit"])
def test_terminal_restored_on_signal_and_exit(pty: tuple[int, int], how: str) -> None:
    master, slave = pty
    before = termios.tcgetattr(slave)
    child = subprocess.Popen([sys.executable, "-c", CHILD, how], stdin=slave,
                             stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    if how == "sigterm":
        assert termios.tcgetattr(slave) != before  # the child really is in raw mode
        child.send_signal(signal.SIGTERM)
    code = child.wait(timeout=10)
    child.stdout.close()
    assert code == (-signal.SIGTERM if how == "sigterm" else 3)
    assert termios.tcgetattr(slave) == before


def test_the_pause_key_resumes_a_paused_session() -> None:
    h = Harness()
    h.ready()
    h.user(pause_or_resume(Action.PAUSE, h.core.ctx.paused))
    paused = h.state
    h.user(pause_or_resume(Action.PAUSE, h.core.ctx.paused))
    assert (paused, h.state) == (SessionState.PAUSED, SessionState.READY)
    assert pause_or_resume(Action.INTERRUPT, True) is Action.INTERRUPT
