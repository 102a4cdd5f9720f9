"""`make bench`: rt's performance figures, measured and printed as one table.

Each row is a number with a unit, a goal (an operator and a threshold, or none) and a verdict
(met, missed, no goal, or error when its measurement raised); see bench_rows.py. Nothing here
asserts: it measures, marks each row, and writes everything to bench/results.json with the
run's metadata (commit, time, machine facts, load). The previous run's file, if any, fills a
"previous" column so figures can be compared run to run.

Sections run in the order of `SECTIONS`, each in this process unless it starts its own. The
audio-device and real-device echo sections need the test sound server (`make bench` starts it);
without it their rows carry the error, and the other sections still run.

    .venv/bin/python scripts/bench.py                      # all (as `make bench`, minus the server)
    .venv/bin/python scripts/bench.py --only storage,memory --out /tmp/part.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_audio
import bench_client
import bench_dashboard
import bench_echo
import bench_memory
import bench_storage
from bench_rows import Row, Section, goal_text, measured_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
SECTIONS: tuple[Section, ...] = (
    bench_client.CORE,
    bench_client.COLD_START,
    bench_client.LATENCY,
    bench_storage.STORAGE,
    bench_storage.RESUME,
    bench_memory.MEMORY,
    bench_audio.DEVICES,
    bench_dashboard.DASHBOARD,
    bench_echo.SIMULATED,
    bench_echo.DEVICES,
)
VERDICT_STYLE = {"met": "green", "missed": "bold red", "no goal": "dim", "error": "yellow"}


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Facts that explain the figures: a slow or loaded machine slows every CPU and wall-clock row."""
    pass_ms = bench_client.wall_ms([sys.executable, "-c", "pass"])
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20),
        "python": platform.python_version(),
        "python_c_pass_ms": {"best": min(pass_ms), "median": statistics.median(pass_ms)},
    }


def load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": one, "5m": five, "15m": fifteen}


def previous(path: Path) -> dict[str, str]:
    """The previous run's figures as printed, by figure name (a file written before the figures
    were numbers holds them as text)."""
    try:
        rows = json.loads(path.read_text())["rows"]
        return {r["figure"]: str(r["measured"]) if "measured" in r else measured_text(Row.from_json(r))
                for r in rows}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def print_table(rows: list[Row], before: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="rt benchmarks (this machine)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("goal")
    table.add_column("verdict")
    if before:
        table.add_column("previous run", justify="right", style="dim")
    for row in rows:
        verdict = f"[{VERDICT_STYLE[row.verdict]}]{row.verdict}[/]"
        table.add_row(row.figure, measured_text(row), goal_text(row), verdict,
                      *([before.get(row.figure, "")] if before else []))
    Console(width=180).print(table)
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICT_STYLE}
    print(", ".join(f"{n} {v}" for v, n in counts.items() if n), file=sys.stderr)


def markdown(results: dict[str, Any]) -> str:
    """The table of a results file in Markdown, for the README."""
    lines = ["| figure | measured | goal | verdict |", "|---|---|---|---|"]
    for data in results["rows"]:
        row = Row.from_json(data)
        lines.append(f"| {row.figure} | {measured_text(row)} | {goal_text(row)} | {row.verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", help="comma-separated section names (see SECTIONS); others are skipped")
    parser.add_argument("--out", type=Path, help=f"results file (default {RESULTS.relative_to(ROOT)}; "
                        "a run with --only writes none unless given)")
    parser.add_argument("--markdown", type=Path, metavar="RESULTS",
                        help="print the table of a results file as Markdown and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    chosen = list(SECTIONS)
    if args.only:
        names = {n.strip() for n in args.only.split(",")}
        unknown = names - {s.name for s in SECTIONS}
        if unknown:
            parser.error(f"no section {', '.join(sorted(unknown))}; sections: "
                         + ", ".join(s.name for s in SECTIONS))
        chosen = [s for s in SECTIONS if s.name in names]
    out = args.out or (None if args.only else RESULTS)

    started = time.monotonic()
    run: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": _git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_changes": bool(_git("status", "--porcelain")),
        "machine": machine(),
        "load_at_start": load(),
    }
    rows: list[Row] = []
    for section in chosen:
        print(f"measuring {section.name} ...", file=sys.stderr, flush=True)
        rows += section.run()
    run["load_at_end"] = load()
    run["seconds"] = round(time.monotonic() - started)

    before = previous(out or RESULTS)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"run": run, "rows": [r.to_json() for r in rows]}, indent=2,
                                  ensure_ascii=False) + "\n")
        print(f"written to {out}", file=sys.stderr)
    print_table(rows, before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
