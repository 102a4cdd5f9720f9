"""Keep the C audio libraries' diagnostics off rt's stderr.

When a device fails to open or disappears mid-stream, PortAudio's ALSA host API prints lines like
`Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 1812` and alsa-lib prints
`ALSA lib pcm_pulse.c:758:(pulse_prepare) PulseAudio: Unable to create stream: ...` straight to
file descriptor 2: six to twelve lines of noise before rt's own one-line error, which already says
what happened. libspeexdsp does the same when it resets its filter (`warning: The echo canceller
started acting funny...`, seen from `rt doctor` in a room with an echo path). PortAudio's print
hook (PaUtil_SetDebugPrintFunction) is not exported by Debian's build, so `install()` routes fd 2
through a pipe whose reader thread drops exactly those lines (and the blank line alsa-lib adds
after its message) and passes everything else through unchanged, in order. A partial line is
passed on after 100 ms without its newline.

`rt talk` installs it only when it opens real devices; `uninstall()` (also registered with
atexit) restores fd 2 and waits for the reader to pass on the last lines, so the final
`rt: ...` error line is never lost.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import sys
import threading

NOISE = re.compile(
    rb"^(?:Expression '.*' failed in '.*', line: \d+"  # PortAudio (pa_linux_alsa.c etc.)
    rb"|ALSA lib [\w.-]+:\d+:.*"  # alsa-lib's default error handler
    # libspeexdsp, when it resets a diverged filter (it recovers by itself; rt's echo gates
    # already keep what it lets through meanwhile out of the conversation)
    rb"|warning: The echo canceller started acting funny and got slapped \(reset\)\. "
    rb"It swears it will behave now\.)$"
)
PARTIAL_WAIT_S = 0.1

_installed: tuple[int, threading.Thread] | None = None
_lock = threading.Lock()


def install() -> bool:
    """Filter fd 2 from now on (idempotent); False when fd 2 cannot be redirected."""
    global _installed
    with _lock:
        if _installed is not None:
            return True
        try:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            saved = os.dup(2)  # the real stderr; not inherited by children
        except OSError:
            return False
        try:
            read_end, write_end = os.pipe()
        except OSError:
            os.close(saved)
            return False
        os.dup2(write_end, 2)  # fd 2 (inheritable) is now the pipe; children write through it
        os.close(write_end)
        thread = threading.Thread(target=_pump, args=(read_end, saved), name="rt-stderr-filter",
                                  daemon=True)
        thread.start()
        _installed = (saved, thread)
    atexit.register(uninstall)
    return True


def uninstall(timeout: float = 1.0) -> None:
    """Give fd 2 back to the real stderr and let the reader pass on what is left."""
    global _installed
    with _lock:
        if _installed is None:
            return
        saved, thread = _installed
        _installed = None
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # drops fd 2's end of the pipe: the reader sees EOF (unless a child
        thread.join(timeout)  # still holds it: then give up waiting after `timeout`)
        if not thread.is_alive():
            os.close(saved)


def _pump(read_end: int, out: int) -> None:
    pending = b""
    after_noise = False
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], PARTIAL_WAIT_S if pending else None)
            if not ready:  # a partial line (a prompt?) waited long enough: show it
                _write(out, pending)
                pending, after_noise = b"", False
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            kept = []
            for line in lines:
                if NOISE.match(line):
                    after_noise = True
                    continue
                if after_noise and not line.strip():
                    after_noise = False  # alsa-lib ends its message with an extra newline
                    continue
                after_noise = False
                kept.append(line + b"\n")
            if kept:
                _write(out, b"".join(kept))
        if pending:
            _write(out, pending)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(read_end)


def _write(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(fd, data) :]
