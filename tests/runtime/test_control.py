"""The command channel's lines: each command, and every way a line can be wrong."""

from __future__ import annotations

import io

import pytest

from realtime_cli.core.inputs import Action
from realtime_cli.errors import ConfigError
from realtime_cli.runtime.control import ControlCommand, ControlErrors, parse_command


@pytest.mark.parametrize(("line", "command"), [
    ('{"cmd": "interrupt"}', ControlCommand(Action.INTERRUPT)),
    ('{"cmd": "say", "text": "hello"}', ControlCommand(Action.SEND_TEXT, "hello")),
    ('{"cmd": "pause"}', ControlCommand(Action.PAUSE)),
    ('{"cmd": "resume"}', ControlCommand(Action.RESUME)),
    ('{"cmd": "mute"}', ControlCommand(Action.MUTE)),
    ('{"cmd": "unmute"}', ControlCommand(Action.UNMUTE)),
    ('{"cmd": "quit"}', ControlCommand(Action.QUIT)),
])
def test_each_command(line: str, command: ControlCommand) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(("line", "message"), [
    ("interrupt", "not JSON"),
    ('["interrupt"]', "expected an object"),
    ('{"command": "quit"}', "unknown cmd None"),
    ('{"cmd": "fly"}', "unknown cmd 'fly'"),
    ('{"cmd": "say"}', 'say needs "text"'),
    ('{"cmd": "say", "text": "  "}', 'say needs "text"'),
    ('{"cmd": "say", "text": 3}', 'say needs "text"'),
    ('{"cmd": "quit", "text": "now"}', "quit: unexpected field(s) text"),
])
def test_a_bad_line_is_one_config_error(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message[:12].replace("(", r"\(")) as info:
        parse_command(line)
    assert message in info.value.message and "\n" not in info.value.message


def test_errors_go_to_stderr_or_as_one_json_object() -> None:
    out, err = io.StringIO(), io.StringIO()
    ControlErrors(json_lines=False, out=out, err=err).report(1.5, "x", "not JSON: Expecting value")
    assert (out.getvalue(), err.getvalue()) == ("", "rt: control: not JSON: Expecting value: x\n")
    out, err = io.StringIO(), io.StringIO()
    ControlErrors(json_lines=True, out=out, err=err).report(1.5, "x", "bad")
    assert err.getvalue() == ""
    assert out.getvalue() == ('{"t": 1.5, "event": "error", "source": "control", "text": "bad", '
                              '"line": "x"}\n')
