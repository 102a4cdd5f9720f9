"""The one percentile definition of rt: `rt stats`, `rt sessions show` and `make bench` use it."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p`-th percentile (0-100) by linear interpolation between the two nearest ranks
    (numpy's default "linear" method): p50 of [1, 2, 3, 4] is 2.5. None for no values.

    Interpolated rather than nearest-rank so that a p99 over a few hundred latencies moves with
    the data instead of jumping from one sample to the next, and so figures agree with numpy.
    """
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
