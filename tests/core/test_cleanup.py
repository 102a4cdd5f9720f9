"""CleanupStack: reverse order, failures isolated and reported, each step run once."""

from __future__ import annotations

import pytest

from realtime_cli.core.cleanup import CleanupFailure, CleanupStack


def test_runs_in_reverse_order_of_registration() -> None:
    ran: list[str] = []
    stack = CleanupStack()
    for name in ("socket", "audio", "journal"):
        stack.register(name, lambda name=name: ran.append(name))
    assert len(stack) == 3
    assert stack.run() == []
    assert ran == ["journal", "audio", "socket"]
    assert stack.failures == []


def test_a_failing_step_does_not_stop_the_others() -> None:
    ran: list[str] = []
    stack = CleanupStack()
    stack.register("first", lambda: ran.append("first"))
    stack.register("broken", lambda: 1 / 0)
    stack.register("worse", lambda: (_ for _ in ()).throw(OSError("device\n  gone")))
    stack.register("last", lambda: ran.append("last"))

    failures = stack.run()

    assert ran == ["last", "first"]
    assert failures == [
        CleanupFailure(name="worse", message="OSError: device gone"),
        CleanupFailure(name="broken", message="ZeroDivisionError: division by zero"),
    ]
    assert stack.failures == failures


def test_each_step_runs_once_and_late_registrations_wait_for_the_next_run() -> None:
    ran: list[str] = []
    stack = CleanupStack()

    def registers_more() -> None:
        ran.append("outer")
        stack.register("inner", lambda: ran.append("inner"))

    stack.register("outer", registers_more)
    stack.run()
    assert ran == ["outer"]
    stack.run()
    assert ran == ["outer", "inner"]
    assert stack.run() == []
    assert ran == ["outer", "inner"]


def test_failures_accumulate_across_runs_and_message_without_text() -> None:
    stack = CleanupStack()

    def fails() -> None:
        raise RuntimeError

    stack.register("a", fails)
    assert stack.run() == [CleanupFailure(name="a", message="RuntimeError")]
    stack.register("b", fails)
    stack.run()
    assert [f.name for f in stack.failures] == ["a", "b"]


def test_keyboard_interrupt_propagates_after_every_step_ran() -> None:
    ran: list[str] = []
    stack = CleanupStack()
    stack.register("after", lambda: ran.append("after"))

    def interrupted() -> None:
        raise KeyboardInterrupt

    stack.register("interrupted", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stack.run()
    assert ran == ["after"]
    assert stack.failures == [CleanupFailure(name="interrupted", message="KeyboardInterrupt")]


def test_register_refuses_what_cannot_be_called() -> None:
    with pytest.raises(TypeError, match="not callable"):
        CleanupStack().register("x", 42)  # type: ignore[arg-type]
