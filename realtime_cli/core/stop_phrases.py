"""Spoken stop phrases: "stop", "wait!", "okay stop" said over the assistant end its answer."""

from __future__ import annotations

import re


def is_stop_phrase(transcript: str, phrases: tuple[str, ...]) -> bool:
    """True when the whole utterance is a stop phrase ("stop", "wait!", "okay stop")."""
    words = re.sub(r"[^\w\s']", " ", transcript.lower()).split()
    if not words or len(words) > 4:
        return False
    text = " ".join(words)
    for phrase in phrases:
        p = phrase.lower().strip()
        if text == p or text.endswith(" " + p) or text.startswith(p + " "):
            return True
    return False
