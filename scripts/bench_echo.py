"""Echo figures of `make bench`: rt's echo handling in simulated rooms (scripts/echo_sim.py, no
devices), and `rt talk` itself in a simulated room on the null sinks
(scripts/bench_echo_devices.py). The goals are those of the default mode, `aec`; the other modes
are measured for comparison."""

from __future__ import annotations

import functools
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import bench_echo_devices
import echo_sim
from bench_rows import Also, Measured, Section, at_least, at_most, print_rows, shared

SIMULATED = Section("echo (simulated room)")
DEVICES = Section("echo (real devices)")
# Five sets of rooms for the mode that has goals: one lucky seed proves little; rt's echo
# handling was tuned on the first three (and one miss in the fourth), the fifth only measured.
SEEDS = (0, 1, 2, 3, 4)
PLAN = (("off", (0,)), ("aec", SEEDS), ("half-duplex", (0,)))
TURNS = 100  # assistant turns per run


@shared
def _simulated() -> dict[tuple[str, int], dict[str, float]]:
    """One run per (mode, seed), two at a time; spawned, as earlier figures leave threads."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = {(mode, seed): pool.submit(echo_sim.run, mode, TURNS, seed)
                for mode, seeds in PLAN for seed in seeds}
        return {key: future.result() for key, future in done.items()}


def _runs(mode: str) -> list[dict[str, float]]:
    results = _simulated()
    return [results[mode, seed] for seed in dict(PLAN)[mode]]


def _self_interruptions(mode: str) -> Measured:
    runs = _runs(mode)
    turns = sum(r["turns"] for r in runs)
    cuts = sum(r["self_interruptions"] for r in runs)
    return Measured(cuts * 100 / turns, (Also("self-interruptions", cuts), Also("turns", turns)))


def _barge_ins(mode: str) -> Measured:
    runs = _runs(mode)
    barge = sum(r["barge_ins"] for r in runs)
    heard = sum(r["barge_ins"] * r["barge_ins_detected_pct"] / 100 for r in runs)
    each = tuple(Also(f"run {k + 1}", r["barge_ins_detected_pct"], "%") for k, r in enumerate(runs))
    return Measured(heard * 100 / barge, (Also("barge-ins", barge), *(each if len(runs) > 1 else ())))


def _cost(mode: str) -> float:
    return max(r["us_per_block"] for r in _runs(mode))


for _mode, _seeds in PLAN:
    _goal = _mode == "aec"
    SIMULATED.figure(f"echo {_mode}: self-interruptions per 100 assistant turns "
                     f"({TURNS * len(_seeds)} turns, simulated rooms)", "per 100 turns",
                     at_most(1) if _goal else None)(functools.partial(_self_interruptions, _mode))
    SIMULATED.figure(f"echo {_mode}: real barge-ins detected", "%",
                     at_least(95) if _goal else None)(functools.partial(_barge_ins, _mode))
    SIMULATED.figure(f"echo {_mode}: cost per 20 ms microphone block", "µs",
                     stat="max")(functools.partial(_cost, _mode))


@shared
def _devices() -> dict[str, float]:
    return bench_echo_devices.run()


@DEVICES.figure(f"echo aec, rt talk on real devices in the simulated room: self-interruptions "
                f"({bench_echo_devices.TURNS} assistant turns)", "per 100 turns", at_most(1))
def devices_self_interruptions() -> Measured:
    r = _devices()
    return Measured(r["self_interruptions"] * 100 / r["turns"],
                    (Also("self-interruptions", r["self_interruptions"]), Also("turns", r["turns"])))


@DEVICES.figure("echo aec, rt talk on real devices: barge-ins detected within 1.5 s", "%", at_least(95))
def devices_barge_ins() -> Measured:
    r = _devices()
    return Measured(r["detected"] * 100 / r["barge_ins"],
                    (Also("detected", r["detected"]), Also("barge-ins", r["barge_ins"])))


if __name__ == "__main__":
    print_rows([SIMULATED, DEVICES])
