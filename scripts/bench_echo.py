"""Echo figures of `make bench`: the two cancellers side by side, in one run, in simulated rooms
(scripts/echo_sim.py, no devices), and `rt talk` itself in a simulated room on the null sinks
(scripts/bench_echo_devices.py). `make bench-echo` runs the long real-device comparison
(`python scripts/bench_echo.py --long`).

Every canceller rt offers (`speex`, `aec3`) carries the goals; `off` and `half-duplex` are
measured for comparison. The rooms come in the sets of echo_sim.ROOM_SETS: `tuned` (what rt's
thresholds were tuned on) and the held-out sets, reported in rows of their own, so a tuning that
does not generalise shows.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import bench_echo_devices
import echo_sim
from bench_rows import Also, Measured, Section, at_least, at_most, print_rows, shared

from realtime_cli.audio.echo.modes import DEFAULT_CANCELLER

SIMULATED = Section("echo (simulated room)")
DEVICES = Section("echo (real devices)")
LONG = Section("echo (real devices, long)")
CANCELLERS = ("speex", "aec3")
HELD_OUT = tuple(name for name in echo_sim.ROOM_SETS if name.startswith("held-out"))
GROUPS = {"tuned rooms": ("tuned",), "held-out rooms": HELD_OUT}
PLAN: tuple[tuple[str, str], ...] = (
    ("off", "tuned rooms"),
    *((mode, group) for mode in CANCELLERS for group in GROUPS),
    ("half-duplex", "tuned rooms"),
)
TURNS = 100  # assistant turns per run
LONG_TURNS = 300  # per canceller in `make bench-echo`: at least 300, half of them talked over


def _runs_of(group: str, mode: str) -> list[tuple[str, str, int]]:
    """(mode, room set, seed) of each run of a row; `off` and `half-duplex` run one seed only."""
    sets = GROUPS[group]
    if mode not in CANCELLERS:
        return [(mode, sets[0], echo_sim.ROOM_SETS[sets[0]].seeds[0])]
    return [(mode, name, seed) for name in sets for seed in echo_sim.ROOM_SETS[name].seeds]


@shared
def _simulated() -> dict[tuple[str, str, int], dict[str, float]]:
    """One run per (mode, room set, seed), two at a time; spawned, as earlier figures leave threads."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = {key: pool.submit(echo_sim.run, key[0], TURNS, key[2], rooms=key[1])
                for mode, group in PLAN for key in _runs_of(group, mode)}
        return {key: future.result() for key, future in done.items()}


def _runs(mode: str, group: str) -> list[dict[str, float]]:
    results = _simulated()
    return [results[key] for key in _runs_of(group, mode)]


def _self_interruptions(mode: str, group: str) -> Measured:
    runs = _runs(mode, group)
    turns = sum(r["turns"] for r in runs)
    cuts = sum(r["self_interruptions"] for r in runs)
    return Measured(cuts * 100 / turns, (Also("self-interruptions", cuts), Also("turns", turns)))


def _barge_ins(mode: str, group: str, key: str = "barge_ins_detected_pct") -> Measured:
    runs = _runs(mode, group)
    barge = sum(r["barge_ins"] for r in runs)
    heard = sum(r["barge_ins"] * r[key] / 100 for r in runs)
    each = tuple(Also(f"run {k + 1}", r[key], "%") for k, r in enumerate(runs))
    return Measured(heard * 100 / barge, (Also("barge-ins", barge), *(each if len(runs) > 1 else ())))


def _delay(mode: str, group: str) -> Measured:
    """The worst run's p95 (the runs' delays are not kept, only their percentiles), its p50 beside."""
    runs = [r for r in _runs(mode, group) if not math.isnan(r["barge_in_delay_p95_s"])]
    if not runs:
        raise ValueError("no barge-in was detected")
    worst = max(runs, key=lambda r: r["barge_in_delay_p95_s"])
    return Measured(1000 * worst["barge_in_delay_p95_s"],
                    (Also("p50", 1000 * max(r["barge_in_delay_p50_s"] for r in runs), "ms"),))


def _reduction(mode: str, group: str) -> Measured:
    found = [r["echo_reduction_db"] for r in _runs(mode, group) if not math.isnan(r["echo_reduction_db"])]
    if not found:
        raise ValueError("no run had a turn nobody talked over")
    return Measured(min(found), (Also("mean", sum(found) / len(found), "dB"),))


def _cost(mode: str, group: str) -> float:
    return max(r["us_per_block"] for r in _runs(mode, group))


def _declare() -> None:
    for mode, group in PLAN:
        goal = mode in CANCELLERS
        turns = TURNS * len(_runs_of(group, mode))
        name = f"echo {mode}{' (the default, aec)' if mode == DEFAULT_CANCELLER else ''}, {group}"
        p = functools.partial
        SIMULATED.figure(f"{name}: self-interruptions per 100 assistant turns ({turns} turns)",
                         "per 100 turns", at_most(1) if goal else None)(p(_self_interruptions, mode, group))
        SIMULATED.figure(f"{name}: real barge-ins detected within {echo_sim.DETECT_WINDOW_S:g} s", "%",
                         at_least(95) if goal else None)(p(_barge_ins, mode, group))
        SIMULATED.figure(f"{name}:   of them within {echo_sim.QUICK_WINDOW_S:g} s", "%")(
            p(_barge_ins, mode, group, "barge_ins_quick_pct"))
        if mode in CANCELLERS:
            SIMULATED.figure(f"{name}: user's first word to the cut (detected barge-ins)", "ms",
                             stat="p95")(p(_delay, mode, group))
            SIMULATED.figure(f"{name}: echo reduction (turns nobody talks over)", "dB",
                             stat="min")(p(_reduction, mode, group))
        SIMULATED.figure(f"{name}: cost per 20 ms microphone block", "µs", stat="max")(p(_cost, mode, group))


_declare()


@shared
def _devices(echo: str, turns: int) -> dict[str, float]:
    """The long runs report each turn on stderr as it ends: an hour without a sign is too long."""
    return bench_echo_devices.run(turns, echo=echo, verbose=turns != bench_echo_devices.TURNS)


def _played(r: dict[str, float]) -> tuple[Also, ...]:
    """How much of the run was played, and whether the simulated room itself skipped or fell
    silent (then rt had no echo to handle, and the figures say little)."""
    stopped = (Also("stopped early: rt kept answering itself", 1),) if r["stopped"] else ()
    return (Also("turns", r["turns"]), *stopped, Also("room xruns", r["room_xruns"]),
            Also("room restarts (its output lost)", r["room_restarts"]),
            Also("room silent", r["room_silent_s"], "s"))


def _device_self_interruptions(echo: str, turns: int) -> Measured:
    r = _devices(echo, turns)
    return Measured(r["self_interruptions"] * 100 / max(1, r["turns"]),
                    (Also("self-interruptions", r["self_interruptions"]), *_played(r)))


def _device_self_started(echo: str, turns: int) -> Measured:
    r = _devices(echo, turns)
    return Measured(r["self_started"] * 100 / max(1, r["turns"]),
                    (Also("turns rt started on its own echo", r["self_started"]), *_played(r)))


def _device_barge_ins(echo: str, turns: int) -> Measured:
    r = _devices(echo, turns)
    return Measured(r["detected"] * 100 / max(1, r["barge_ins"]),
                    (Also("detected", r["detected"]), Also("barge-ins", r["barge_ins"])))


def _device_delay(echo: str, turns: int) -> Measured:
    r = _devices(echo, turns)
    return Measured(1000 * r["delay_p95_s"], (Also("p50", 1000 * r["delay_p50_s"], "ms"),))


def _declare_devices(section: Section, modes: tuple[str, ...], turns: int) -> None:
    for echo in modes:
        part = functools.partial
        section.figure(f"echo {echo}, rt talk on real devices in the simulated room: self-interruptions "
                       f"({turns} assistant turns)", "per 100 turns", at_most(1))(
            part(_device_self_interruptions, echo, turns))
        section.figure(f"echo {echo}, rt talk on real devices: turns started by the answer's own echo "
                       "after it ended", "per 100 turns", at_most(1))(part(_device_self_started, echo, turns))
        section.figure(f"echo {echo}, rt talk on real devices: barge-ins detected within "
                       f"{bench_echo_devices.DETECT_S:g} s", "%",
                       at_least(95))(part(_device_barge_ins, echo, turns))
        section.figure(f"echo {echo}, rt talk on real devices: second voice's start to rt's cut", "ms",
                       stat="p95")(part(_device_delay, echo, turns))


_declare_devices(DEVICES, ("aec",), bench_echo_devices.TURNS)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--long", action="store_true",
                        help=f"only the long real-device runs ({LONG_TURNS} turns per canceller, "
                             "about 70 min each)")
    parser.add_argument("--canceller", choices=CANCELLERS, action="append",
                        help="with --long: this canceller only (repeatable; default: all)")
    parser.add_argument("--turns", type=int, default=LONG_TURNS,
                        help=f"with --long: assistant turns per canceller (default {LONG_TURNS})")
    args = parser.parse_args()
    if args.long:
        _declare_devices(LONG, tuple(args.canceller or CANCELLERS), args.turns)
    print_rows([LONG] if args.long else [SIMULATED, DEVICES])
