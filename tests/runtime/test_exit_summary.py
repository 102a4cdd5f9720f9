"""The exit summary: why the session ended (a timeout, a failure, the user) and its figures,
after the dashboard and at the end of `--plain`/`--json` output."""

from __future__ import annotations

import io
import json

import pytest
from helpers import Harness

from realtime_cli.core.config import SessionConfig
from realtime_cli.runtime.interactive import _summary
from realtime_cli.runtime.output import LineOutput, SessionOutcome


def idle_out() -> Harness:
    h = Harness(SessionConfig(idle_timeout_s=30.0))
    h.ready()
    h.tick(31.0)
    return h


def test_the_dashboards_summary_says_why_the_session_ended(
        capsys: pytest.CaptureFixture[str]) -> None:
    h = idle_out()
    outcome = SessionOutcome()
    for c in h.log:
        outcome.handle(c, 0.0)
    assert outcome.reason == "idle for 30 s"
    _summary(h.core.snapshot(h.now), outcome)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rt: session s1e55i0n ended after 00:31: idle for 30 s"
    assert lines[1] == "rt:   Turns        you 0 · assistant 0 · tool calls 0"
    assert lines[4].startswith("rt:   Timing       ready in 0 ms · idle 31.0 s · last activity ")
    assert lines[-1] == "rt:   see `rt sessions show s1e55i0n`"


def test_a_session_that_never_connected_still_has_its_reason() -> None:
    h = Harness()
    h.begin()  # connecting: nothing is journaled before the first connection opens
    outcome = SessionOutcome()
    for c in h.core.close(h.now, "input file finished"):
        outcome.handle(c, 0.0)
    assert (outcome.reason, outcome.figures) == ("input file finished", None)


@pytest.mark.parametrize("json_lines", [False, True])
def test_plain_and_json_output_end_with_the_reason_and_the_figures(json_lines: bool) -> None:
    h = idle_out()
    out = io.StringIO()
    output = LineOutput(json_lines=json_lines, stream=out)
    for c in h.log:
        output.handle(c, 31.0)
    lines = out.getvalue().splitlines()
    if json_lines:
        events = [json.loads(line) for line in lines]
        end = next(i for i, e in enumerate(events) if e["event"] == "end")
        assert events[end]["reason"] == "idle for 30 s"
        assert events[end + 1]["event"] == "summary"
        assert events[end + 1]["idle_s"] == pytest.approx(31.0)
        assert events[end + 1]["interrupt_rate"] is None
        assert (events[-1]["event"], events[-1]["new"]) == ("state", "closed")
    else:
        end = next(i for i, line in enumerate(lines) if "session ended: idle for 30 s" in line)
        assert [line.split("] ", 1)[1].split(":")[0] for line in lines[end + 1:end + 6]] == [
            "turns", "interrupted", "audio", "timing", "trouble"]
        assert "state: closed (idle for 30 s)" in lines[-1]
