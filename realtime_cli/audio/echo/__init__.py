"""Client-side echo handling: keep the assistant's own voice from reaching the server's VAD.

The loudspeaker's sound comes back into the microphone 20-200 ms later (acoustic path plus
device latency) and server VAD takes it for the user: the assistant interrupts itself. Server
VAD (Silero) hears speech down to about -60 dBFS whatever its level, so the 25-35 dB an echo
canceller removes is not enough on its own. The modes (`ECHO_MODES`, `make_echo`):

- `speex` and `aec3`: an adaptive echo canceller with its residual echo suppressor (speexdsp's,
  or WebRTC's AEC3 through the optional `pywebrtc-audio`), then the half-duplex gate applied to
  the canceller's output (a residual gate) with checks that tell a second voice from echo the
  canceller missed. When nothing has played within the echo hangover, the microphone passes
  bit-exact. `aec` is whichever of the two measures better (`modes.DEFAULT_CANCELLER`).
- `half-duplex`: while the far end is audible, the microphone is muted unless it is clearly
  louder than the echo expected from the far audio.
- `off`: pass-through, with stats.

The stages, one module each, in the order a microphone block meets them:

- `timeline`: both streams on one sample timeline (`Anchor`), and the far audio kept by sample
  (`Reference`), so the reference for a microphone frame is what the DAC played at that instant.
- `gate`: the half-duplex decision (is this block only echo of the far audio?), used on the raw
  microphone and, in `aec`, on the canceller's output.
- `delay`: where the echo's direct path lies, so the reference is pre-shifted and a short filter
  spans the echo; a moved delay is a changed echo path.
- `canceller`: a canceller run on whole 10 ms frames: speexdsp (`speexdsp` is the binding) or
  AEC3 (`webrtc`).
- `double_talk`: is speech over the echo the user, or echo the canceller got wrong?
- `convergence`: how much echo the canceller removes (ERLE), for the dashboard.
- `half_duplex` and `aec`: the processors built from these; `interface` is what callers see.

`path_probe` and `room_check` are `rt doctor`'s: a test signal played and recorded, and what the
recording says about the room and which mode suits it.

Around them: `link` carries what the speaker played to the microphone's thread, and `record`
records a conversation's echo calls (`RT_ECHO_RECORD`) to replay them offline
(scripts/echo_replay.py). Most thresholds came from such real-device recordings and from
scripts/echo_sim.py; each stage says why its constants have their values.

Importing this package loads no numpy: the processors load when `make_echo` makes one.
"""

from realtime_cli.audio.echo.interface import EchoProcessor, EchoStats
from realtime_cli.audio.echo.modes import ECHO_MODES, make_echo

__all__ = ["ECHO_MODES", "EchoProcessor", "EchoStats", "make_echo"]
