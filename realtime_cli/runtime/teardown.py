"""Running a `CleanupStack` on the event loop: async steps are awaited within their bound, plain
ones run in a worker thread within theirs (a device close can block inside PortAudio), and a
step that hangs is left behind and reported, so the rest of the teardown still happens."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from realtime_cli.core.cleanup import CleanupFailure, CleanupStack, CleanupStep

_gave_up: list[str] = []  # steps that outlived their bound, whether or not they returned later


def exit_past_abandoned_steps(code: int) -> None:
    """End the process with `code` without running atexit handlers when a step outlived its
    bound: PortAudio's own atexit termination would abort the process (SIGABRT) on a mutex the
    device close holds, or held when a device went away mid-close (seen on a busy machine after
    the close had returned late). The journal is closed or committed by then; only the standard
    streams need flushing."""
    if not _gave_up:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


async def run_cleanup(stack: CleanupStack,
                      report: Callable[[CleanupFailure], None]) -> list[CleanupFailure]:
    failures: list[CleanupFailure] = []
    for step in stack.take():
        try:
            await asyncio.wait_for(_call(step), timeout=step.timeout_s)
        except TimeoutError:
            _gave_up.append(step.name)
            failures.append(stack.fail(step, None))
        except Exception as exc:  # one failing step must not stop the others
            failures.append(stack.fail(step, exc))
        else:
            continue
        report(failures[-1])
    return failures


async def _call(step: CleanupStep) -> None:
    if inspect.iscoroutinefunction(step.fn):
        await step.fn()
        return
    result = await _in_thread(step)
    if inspect.isawaitable(result):
        await result


def _in_thread(step: CleanupStep) -> asyncio.Future[Any]:
    """A daemon thread, not the loop's executor: one that never returns must not hold up the
    process's exit as well."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(result)
        else:
            done.set_exception(exc)

    def hand_over(result: Any, exc: BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop closed: the step was already reported as hanging
            pass

    def work() -> None:
        try:
            result = step.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, which reports it
            hand_over(None, exc)
        else:
            hand_over(result, None)

    threading.Thread(target=work, name=f"cleanup: {step.name}", daemon=True).start()
    return done
