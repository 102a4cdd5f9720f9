"""`CleanupStack`: the ordered teardown of a session, run once when it ends.

Drivers register what must be undone as they acquire it (close the audio streams, flush the
journal, close the socket); `run()` undoes it in reverse order, like `contextlib.ExitStack`, so
each resource is released before the ones it was built on. A failing step does not stop the
others: every step runs, and each failure is returned (and kept in `failures`) as a name and a
one-line message for the caller to report. Callables are synchronous: async work belongs to the
driver, which wraps it before registering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CleanupFailure:
    name: str
    message: str  # "ExceptionType: text"


class CleanupStack:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []
        self.failures: list[CleanupFailure] = []

    def __len__(self) -> int:
        return len(self._steps)

    def register(self, name: str, fn: Callable[[], object]) -> None:
        """Add a step; steps run in the reverse order of registration."""
        if not callable(fn):
            raise TypeError(f"cleanup step {name!r} is not callable")
        self._steps.append((name, fn))

    def run(self) -> list[CleanupFailure]:
        """Run every registered step once, newest first; return this run's failures.

        The stack is emptied first, so a step that registers more cleanup, or a second call,
        never runs a step twice. `KeyboardInterrupt` and `SystemExit` still propagate after the
        remaining steps have run.
        """
        steps, self._steps = self._steps, []
        failures: list[CleanupFailure] = []
        pending: BaseException | None = None
        for name, fn in reversed(steps):
            try:
                fn()
            except Exception as exc:  # one failing step must not stop the others
                failures.append(CleanupFailure(name=name, message=_one_line(exc)))
            except BaseException as exc:  # noqa: B036 - re-raised once all steps ran
                failures.append(CleanupFailure(name=name, message=_one_line(exc)))
                pending = pending or exc
        self.failures.extend(failures)
        if pending is not None:
            raise pending
        return failures


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
