"""A minimal ctypes binding to the system libspeexdsp (echo canceller and preprocessor).

ctypes rather than the `speexdsp` sdist: the Debian runtime package `libspeexdsp1` is all it
needs (no compiler, no SWIG, no headers at install time). Constants are copied from
`speex/speex_echo.h` and `speex/speex_preprocess.h` of speexdsp 1.2.1.

Both classes own native state: call `close()` when done (`__del__` is only a safety net). They
are not thread-safe; the echo processor that owns them (`canceller.FramedCanceller`) is
run on one thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numpy as np
import numpy.typing as npt

from realtime_cli.errors import AudioDeviceError

SPEEX_ECHO_SET_SAMPLING_RATE = 24
SPEEX_PREPROCESS_SET_DENOISE = 0
SPEEX_PREPROCESS_SET_AGC = 2
SPEEX_PREPROCESS_SET_DEREVERB = 8
SPEEX_PREPROCESS_SET_NOISE_SUPPRESS = 18
SPEEX_PREPROCESS_SET_ECHO_SUPPRESS = 20
SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE = 22
SPEEX_PREPROCESS_SET_ECHO_STATE = 24

_INSTALL_HINT = "echo cancellation needs libspeexdsp: run `apt-get install libspeexdsp1`"
_lib: Any = None


def _load(name: str | None) -> ctypes.CDLL:
    """Open the library; split out so tests can make it fail."""
    return ctypes.CDLL(name or "libspeexdsp.so.1")


def library() -> Any:
    """The loaded libspeexdsp with argument types declared; `AudioDeviceError` when missing."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = _load(ctypes.util.find_library("speexdsp"))
    except OSError:
        try:
            lib = _load("libspeexdsp.so.1")
        except OSError:
            raise AudioDeviceError(_INSTALL_HINT) from None
    ptr, i16p = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16)
    signatures: dict[str, tuple[list[Any], Any]] = {
        "speex_echo_state_init": ([ctypes.c_int, ctypes.c_int], ptr),
        "speex_echo_state_destroy": ([ptr], None),
        "speex_echo_state_reset": ([ptr], None),
        "speex_echo_ctl": ([ptr, ctypes.c_int, ptr], ctypes.c_int),
        "speex_echo_cancellation": ([ptr, i16p, i16p, i16p], None),
        "speex_preprocess_state_init": ([ctypes.c_int, ctypes.c_int], ptr),
        "speex_preprocess_state_destroy": ([ptr], None),
        "speex_preprocess_ctl": ([ptr, ctypes.c_int, ptr], ctypes.c_int),
        "speex_preprocess_run": ([ptr, i16p], ctypes.c_int),
    }
    try:
        for name, (args, res) in signatures.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
    except AttributeError:
        raise AudioDeviceError(f"libspeexdsp lacks the echo canceller; {_INSTALL_HINT}") from None
    _lib = lib
    return lib


def _i16(pcm: npt.NDArray[np.int16]) -> Any:
    return pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))


def _int_ctl(fn: Any, state: int, request: int, value: int) -> None:
    arg = ctypes.c_int32(value)
    if fn(state, request, ctypes.byref(arg)) != 0:
        raise AudioDeviceError(f"libspeexdsp refused control request {request}={value}")


class _Frame:
    """A C-contiguous int16 frame owned by a binding, with its pointer made once: turning an
    array into a ctypes pointer costs more than the copy in and out (tens of microseconds per
    call, 100 to 400 calls a second)."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(size, dtype=np.int16)
        self.ptr = _i16(self.data)


class EchoCanceller:
    """speexdsp's MDF adaptive filter: `frame_size` samples per call, `filter_length` taps."""

    def __init__(self, frame_size: int, filter_length: int, rate: int) -> None:
        self._lib = library()
        self.frame_size = frame_size
        self._rec, self._play, self._out = _Frame(frame_size), _Frame(frame_size), _Frame(frame_size)
        state = self._lib.speex_echo_state_init(frame_size, filter_length)
        if not state:
            raise AudioDeviceError("libspeexdsp could not create an echo canceller")
        self.state: int = state
        _int_ctl(self._lib.speex_echo_ctl, state, SPEEX_ECHO_SET_SAMPLING_RATE, rate)

    def cancel(self, rec: npt.NDArray[np.int16], play: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Microphone frame minus the echo predicted from `play` (what was at the DAC meanwhile).

        Both frames must be int16 of `frame_size` samples; the result is a fresh array.
        """
        if rec.shape != (self.frame_size,) or play.shape != (self.frame_size,):
            raise ValueError(f"echo canceller frames must be {self.frame_size} samples")
        self._rec.data[:] = rec
        self._play.data[:] = play
        self._lib.speex_echo_cancellation(self.state, self._rec.ptr, self._play.ptr, self._out.ptr)
        return self._out.data.copy()

    def reset(self) -> None:
        """Forget the learned echo path (the device or the room changed)."""
        self._lib.speex_echo_state_reset(self.state)

    def close(self) -> None:
        if self.state:
            self._lib.speex_echo_state_destroy(self.state)
            self.state = 0

    def __del__(self) -> None:
        if getattr(self, "state", 0):
            self.close()


class Preprocessor:
    """speexdsp's spectral post-filter, used here for residual echo suppression.

    The echo suppressor is part of the denoiser's gain: with denoise off libspeexdsp forces
    every gain to 1 (preprocess.c), so denoise stays on with a shallow `noise_suppress_db`.
    """

    def __init__(
        self,
        frame_size: int,
        rate: int,
        *,
        echo: EchoCanceller | None = None,
        echo_suppress_db: int = -40,
        echo_suppress_active_db: int = -15,
        noise_suppress_db: int = -3,
        agc: bool = False,
        dereverb: bool = False,
    ) -> None:
        self._lib = library()
        self.frame_size = frame_size
        self._frame = _Frame(frame_size)
        state = self._lib.speex_preprocess_state_init(frame_size, rate)
        if not state:
            raise AudioDeviceError("libspeexdsp could not create a preprocessor")
        self.state: int = state
        self._echo = echo  # kept alive: the preprocessor holds a raw pointer to its state
        ctl = self._lib.speex_preprocess_ctl
        _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_DENOISE, 1)
        _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, noise_suppress_db)
        _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_AGC, int(agc))
        _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_DEREVERB, int(dereverb))
        if echo is not None:
            if ctl(state, SPEEX_PREPROCESS_SET_ECHO_STATE, ctypes.c_void_p(echo.state)) != 0:
                raise AudioDeviceError("libspeexdsp refused to link the echo canceller")
            _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, echo_suppress_db)
            _int_ctl(ctl, state, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, echo_suppress_active_db)

    def run(self, frame: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Filter one frame; returns a fresh array (libspeexdsp works in place on a copy)."""
        if frame.shape != (self.frame_size,):
            raise ValueError(f"preprocessor frames must be {self.frame_size} samples")
        self._frame.data[:] = frame
        self._lib.speex_preprocess_run(self.state, self._frame.ptr)
        return self._frame.data.copy()

    def close(self) -> None:
        if self.state:
            self._lib.speex_preprocess_state_destroy(self.state)
            self.state = 0
        self._echo = None

    def __del__(self) -> None:
        if getattr(self, "state", 0):
            self.close()
