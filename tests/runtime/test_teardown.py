"""rt's teardown: ordered steps, each bounded in time; a failing or hanging step is reported in
one line and the rest still run, from the cleanup stack alone up to a whole runner."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from realtime_cli.core.cleanup import CleanupFailure, CleanupStack
from realtime_cli.runtime.teardown import run_cleanup
from realtime_cli.transport.memory import MemoryTransport

from .test_runner_memory import TIMEOUT_S, make_ready, make_runner, new_peer


async def test_steps_run_newest_first_and_a_failing_or_hanging_one_stops_nothing() -> None:
    ran: list[str] = []
    never = threading.Event()
    stack = CleanupStack()

    async def hangs() -> None:
        await asyncio.Event().wait()

    def fails() -> None:
        raise OSError("device\n  gone")

    stack.register("journal", lambda: ran.append("journal"))
    stack.register("blocked device", never.wait, 0.2)  # a thread that never returns
    stack.register("socket", hangs, 0.2)
    stack.register("speaker", fails)
    stack.register("flush", lambda: ran.append("flush"))
    reported: list[CleanupFailure] = []
    async with asyncio.timeout(TIMEOUT_S):
        failures = await run_cleanup(stack, reported.append)
    assert ran == ["flush", "journal"]
    assert failures == reported == [
        CleanupFailure("speaker", "OSError: device gone"),
        CleanupFailure("socket", "did not finish within 0.2 s"),
        CleanupFailure("blocked device", "did not finish within 0.2 s"),
    ]
    assert len(stack) == 0 and await run_cleanup(stack, reported.append) == []  # once only
    never.set()


async def test_a_runner_whose_devices_fail_and_hang_on_close_still_ends_and_says_so() -> None:
    transport = MemoryTransport()
    runner, speaker, _ = make_runner(transport)
    mic_closing = asyncio.Event()

    async def speaker_close() -> None:
        raise OSError("the speaker is gone")

    async def mic_close() -> None:
        mic_closing.set()
        await asyncio.Event().wait()  # never returns

    speaker.close = speaker_close  # type: ignore[method-assign]
    runner.source.close = mic_close  # type: ignore[method-assign]
    peer = new_peer()
    closed = asyncio.Event()

    async def server_side() -> None:
        server = await transport.accept()
        await make_ready(server, peer)
        runner.stop(0, "test done")
        try:
            while True:
                await server.receive_event()
        except Exception:
            closed.set()

    async with asyncio.timeout(TIMEOUT_S):
        code, _ = await asyncio.gather(runner.run(), server_side())
    assert code == 0
    assert closed.is_set() and mic_closing.is_set()  # the socket closed; the mic was asked
    names = [(f.name, f.message) for f in runner.cleanup_failures]
    assert names == [("microphone", "did not finish within 3 s"),
                     ("speaker", "OSError: the speaker is gone")]


def test_a_plain_step_that_returns_after_the_loop_closed_raises_nothing_in_its_thread() -> None:
    release = threading.Event()
    returned = threading.Event()
    errors: list[threading.ExceptHookArgs] = []

    def blocks() -> None:
        release.wait(10)
        returned.set()

    stack = CleanupStack()
    stack.register("blocked device", blocks, 0.05)
    reported: list[CleanupFailure] = []
    asyncio.run(run_cleanup(stack, reported.append))
    assert [f.name for f in reported] == ["blocked device"]
    worker = next(t for t in threading.enumerate() if t.name == "cleanup: blocked device")

    previous = threading.excepthook
    threading.excepthook = errors.append
    try:
        release.set()
        assert returned.wait(10)
        worker.join(10)
    finally:
        threading.excepthook = previous
    assert errors == []


EXIT_SCRIPT = """
import asyncio, atexit, sys, threading
from realtime_cli.core.cleanup import CleanupStack
from realtime_cli.runtime.teardown import exit_past_abandoned_steps, run_cleanup

atexit.register(lambda: print("atexit ran", flush=True))
stack = CleanupStack()
# A step that returns gets a bound a busy machine cannot miss; the others are given up, and one
# of them returns later, before the exit.
returned = threading.Event()
if sys.argv[1] == "hang":
    stack.register("speaker", lambda: threading.Event().wait(), 0.05)
elif sys.argv[1] == "late":
    stack.register("speaker", lambda: (threading.Event().wait(0.3), returned.set()), 0.05)
else:
    stack.register("speaker", lambda: None, 30)
asyncio.run(run_cleanup(stack, lambda failure: None))
if sys.argv[1] == "late":
    assert returned.wait(30)
print("ended", end="")  # left in the buffer: the exit must flush it
exit_past_abandoned_steps(4)
sys.exit(5)
"""


@pytest.mark.parametrize(("step", "code", "atexit_ran"),
                         [("hang", 4, False), ("late", 4, False), ("return", 5, True)])
def test_a_device_close_left_hanging_ends_the_process_without_atexit_handlers(
        step: str, code: int, atexit_ran: bool) -> None:
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, step], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code, done
    assert done.stdout.startswith("ended"), done
    assert ("atexit ran" in done.stdout) is atexit_ran, done
