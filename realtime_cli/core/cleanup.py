"""`CleanupStack`: what a session must undo when it ends, in order, each step bounded in time.

Drivers register what must be undone as they acquire it (the speaker, the microphone, the
tasks, the socket, a last flush of the audio); the steps run newest first, like
`contextlib.ExitStack`, so each resource is released before the ones it was built on. A failing
or hanging step does not stop the others: every step runs, and each failure is kept as a name
and a one-line message for the caller to report. This module only holds the steps and the
record; running them (awaiting async steps within their bound) belongs to the driver
(`runtime/teardown.py`), and `run()` here runs plain synchronous steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Step = Callable[[], object | Awaitable[object]]
DEFAULT_STEP_S = 3.0


@dataclass(frozen=True, slots=True)
class CleanupFailure:
    name: str
    message: str  # "ExceptionType: text", or how long it hung


@dataclass(frozen=True, slots=True)
class CleanupStep:
    name: str
    fn: Step
    timeout_s: float


class CleanupStack:
    def __init__(self) -> None:
        self._steps: list[CleanupStep] = []
        self.failures: list[CleanupFailure] = []

    def __len__(self) -> int:
        return len(self._steps)

    def register(self, name: str, fn: Step, timeout_s: float = DEFAULT_STEP_S) -> None:
        """Add a step; steps run in the reverse order of registration."""
        if not callable(fn):
            raise TypeError(f"cleanup step {name!r} is not callable")
        self._steps.append(CleanupStep(name, fn, timeout_s))

    def take(self) -> list[CleanupStep]:
        """The steps in the order to run them, newest first; the stack is emptied, so a step
        that registers more cleanup, or a second run, never runs a step twice."""
        steps, self._steps = self._steps, []
        return steps[::-1]

    def fail(self, step: CleanupStep, exc: BaseException | None) -> CleanupFailure:
        message = f"did not finish within {step.timeout_s:g} s" if exc is None else one_line(exc)
        failure = CleanupFailure(name=step.name, message=message)
        self.failures.append(failure)
        return failure

    def run(self) -> list[CleanupFailure]:
        """Run every (synchronous) step once, newest first; return this run's failures.
        `KeyboardInterrupt` and `SystemExit` still propagate after the remaining steps ran."""
        failures: list[CleanupFailure] = []
        pending: BaseException | None = None
        for step in self.take():
            try:
                step.fn()
            except Exception as exc:  # one failing step must not stop the others
                failures.append(self.fail(step, exc))
            except BaseException as exc:  # noqa: B036 - re-raised once all steps ran
                failures.append(self.fail(step, exc))
                pending = pending or exc
        if pending is not None:
            raise pending
        return failures


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
