"""The audio format on the wire: PCM16 little-endian mono at 24 kHz, carried as base64 text.

Base64 lives here and nowhere else: the codec turns it into bytes on the way in and back into
text on the way out, so the session core and the devices only ever see raw PCM.
"""

from __future__ import annotations

import base64
import binascii

SAMPLE_RATE = 24_000
SAMPLE_WIDTH = 2  # bytes per PCM16 sample
SAMPLES_PER_MS = SAMPLE_RATE // 1000  # 24


def b64encode_pcm(pcm: bytes) -> str:
    return binascii.b2a_base64(pcm, newline=False).decode("ascii")


def b64decode_pcm(text: str) -> bytes | None:
    """Decode base64 audio; None when it is not valid base64 or not whole PCM16 samples."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) % SAMPLE_WIDTH:
        return None
    return raw
