"""The rows of `make bench` as data: each figure is a number with a unit, a goal (an operator
and a threshold, or none) and a verdict.

A bench module declares its figures on a `Section` before anything is measured:

    STORAGE = Section("storage")

    @STORAGE.figure("`rt sessions list`, 10,000 sessions (whole process)", "ms", at_most(300),
                    stat="median of 5")
    def sessions_list() -> float: ...

and `scripts/bench.py` lists the sections to run. Because the rows are known up front, a
measurement that raises still yields its rows, each carrying the error instead of a value, and
the other figures and sections go on. Several rows that read one costly run share it through
`shared`, which also keeps a failure, so a run that failed is not repeated for each of its rows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from realtime_cli.percentiles import percentile

P = ParamSpec("P")
T = TypeVar("T")

Op = Literal["<=", ">="]
Verdict = Literal["met", "missed", "no goal", "error"]


@dataclass(frozen=True, slots=True)
class Goal:
    op: Op
    threshold: float

    def met_by(self, value: float) -> bool:
        """NaN meets no goal: a figure that could not be computed is not a success."""
        return value <= self.threshold if self.op == "<=" else value >= self.threshold


def at_most(threshold: float) -> Goal:
    return Goal("<=", float(threshold))


def at_least(threshold: float) -> Goal:
    return Goal(">=", float(threshold))


@dataclass(frozen=True, slots=True)
class Also:
    """A number printed beside a row's value to explain it (its p50, what it is made of)."""

    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Measured:
    value: float
    also: tuple[Also, ...] = ()


@dataclass(frozen=True, slots=True)
class Figure:
    """One row, declared before it is measured. `stat` says which statistic `value` is
    ("p99", "median of 7"); the goal applies to it."""

    name: str
    unit: str
    goal: Goal | None
    stat: str
    measure: Callable[[], float | Measured]


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    figure: str
    unit: str
    goal: Goal | None
    stat: str = ""
    value: float | None = None
    also: tuple[Also, ...] = ()
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.error is not None or self.value is None:
            return "error"
        if self.goal is None:
            return "no goal"
        return "met" if self.goal.met_by(self.value) else "missed"

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "figure": self.figure,
            "stat": self.stat or None,
            "value": None if self.value is None or math.isnan(self.value) else self.value,
            "unit": self.unit,
            "goal": None if self.goal is None else {"op": self.goal.op, "threshold": self.goal.threshold},
            "verdict": self.verdict,
            "also": [{"name": a.name, "value": a.value, "unit": a.unit} for a in self.also],
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        goal = data["goal"]
        return cls(data["section"], data["figure"], data["unit"],
                   None if goal is None else Goal(goal["op"], float(goal["threshold"])),
                   data["stat"] or "", data["value"],
                   tuple(Also(a["name"], float(a["value"]), a["unit"]) for a in data["also"]),
                   data["error"])


@dataclass
class Section:
    name: str
    figures: list[Figure] = field(default_factory=list)

    def figure(self, name: str, unit: str, goal: Goal | None = None, *, stat: str = "",
               ) -> Callable[[Callable[[], float | Measured]], Callable[[], float | Measured]]:
        """Register the decorated function as the measurement of one row of this section."""

        def register(fn: Callable[[], float | Measured]) -> Callable[[], float | Measured]:
            self.figures.append(Figure(name, unit, goal, stat, fn))
            return fn

        return register

    def run(self) -> Iterator[Row]:
        """Measure each figure in turn; one that raises becomes a row with its error."""
        for f in self.figures:
            base = Row(self.name, f.name, f.unit, f.goal, f.stat)
            try:
                got = f.measure()
            except Exception as exc:  # noqa: BLE001 - any failure is reported in its row
                yield Row(base.section, base.figure, base.unit, base.goal, base.stat, error=describe(exc))
                continue
            measured = got if isinstance(got, Measured) else Measured(float(got))
            yield Row(base.section, base.figure, base.unit, base.goal, base.stat,
                      value=measured.value, also=measured.also)


def describe(exc: BaseException) -> str:
    """The exception's type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def shared(fn: Callable[P, T]) -> Callable[P, T]:
    """Run `fn` once per argument list: later calls get the same result, or raise the same
    exception again, without running it a second time."""
    outcomes: dict[Hashable, tuple[bool, Any]] = {}

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in outcomes:
            try:
                outcomes[key] = (True, fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - kept and raised again below
                outcomes[key] = (False, exc)
        ok, outcome = outcomes[key]
        if not ok:
            raise outcome
        return outcome  # type: ignore[no-any-return]

    return call


@functools.cache
def installed_python() -> Path:
    """An interpreter that starts as a user's install does (`pipx install`: a venv whose
    site-packages holds rt and its dependencies, no import hooks), for the cold-start figures.

    The dev venv installs rt editable: a .pth there imports setuptools' finder module in every
    interpreter (15 ms of each start on this machine), which no installed rt pays. So this
    makes a throwaway venv without pip whose one .pth line puts the dev venv's site-packages
    and the checkout on the path: the same files, found without running any .pth of theirs.
    Its `bin/rt` is the console script pip writes."""
    import atexit
    import shutil
    import site
    import subprocess
    import sys
    import tempfile

    root = Path(__file__).resolve().parents[1]
    home = Path(tempfile.mkdtemp(prefix="rt-installed-"))
    atexit.register(shutil.rmtree, home, True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "rt.pth").write_text(f"{root}\n{site.getsitepackages()[0]}\n")
    script = home / "bin" / "rt"
    script.write_text(f"#!{python}\nimport sys\nfrom realtime_cli.cli.app import main\n"
                      "if __name__ == '__main__':\n    sys.exit(main())\n")
    script.chmod(0o755)
    return python


def pct(values: list[float], p: float) -> float:
    """The project's percentile (`realtime_cli.percentiles`) of measured samples."""
    result = percentile(values, p)
    if result is None:
        raise ValueError(f"no samples for a p{p:g}")
    return result


def number(value: float) -> str:
    """About three significant digits; whole numbers without decimals."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if value.is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def quantity(value: float, unit: str) -> str:
    return f"{number(value)} {unit}".rstrip()


def measured_text(row: Row) -> str:
    """"p99 2.50 ms (p50 0.40 ms)"; a statistic of several words goes in the brackets:
    "481 ms (best of 7; median 744 ms)"."""
    if row.error is not None:
        return row.error
    assert row.value is not None
    short = " " not in row.stat
    text = f"{row.stat if short else ''} {quantity(row.value, row.unit)}".strip()
    notes = ", ".join(f"{a.name} {quantity(a.value, a.unit)}" for a in row.also)
    if not short:
        notes = f"{row.stat}; {notes}" if notes else row.stat
    return f"{text} ({notes})" if notes else text


def goal_text(row: Row) -> str:
    if row.goal is None:
        return ""
    stat = row.stat if " " not in row.stat else ""
    return f"{stat} {row.goal.op} {quantity(row.goal.threshold, row.unit)}".strip()


def print_rows(sections: list[Section]) -> None:
    """A bench module run on its own: its rows, one line each, as they are measured."""
    for section in sections:
        for row in section.run():
            goal = goal_text(row)
            print(f"{row.figure}: {measured_text(row)}   [{row.verdict}{': goal ' + goal if goal else ''}]",
                  flush=True)
