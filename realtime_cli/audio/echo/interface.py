"""What every echo mode is to its callers: `EchoProcessor`, and the `EchoStats` it reports.

No numpy at import (only for type checking): the dashboard and the settings load this package
before any audio is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class EchoStats:
    """A snapshot for the dashboard; plain values, safe to hand to another thread."""

    mode: str
    active: bool  # far end audible now (or within the echo hangover)
    converged: bool  # aec: the canceller removes enough echo to go without the gate
    warming_up: bool  # aec: the half-duplex gate is still applied on top
    echo_return_loss_db: float  # ERLE on echo-only blocks: mic input energy over output energy
    gated_blocks: int  # microphone blocks replaced by silence so far


class EchoProcessor(Protocol):
    """24 kHz mono int16 on both sides, one thread: the caller serialises `far` and `near`."""

    mode: str

    def far(self, pcm: npt.NDArray[np.int16], t: float) -> None:
        """What reaches the DAC, its first sample at stream time `t`; silence too, so gaps are known."""
        ...

    def dropped(self, t: float) -> None:
        """The speaker dropped what it still held (a barge-in): nothing given to `far` for stream
        time `t` on was played, and the next `far` block starts a restarted stream."""
        ...

    def near(self, pcm: npt.NDArray[np.int16], t: float) -> npt.NDArray[np.int16]:
        """The microphone block whose first sample the ADC took at `t`, echo handled; same length."""
        ...

    def stats(self) -> EchoStats: ...

    def close(self) -> None:
        """Free the native state (the canceller's); the processor is not used afterwards."""
        ...
